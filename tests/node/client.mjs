// The official openai package against l32-serve, used as the hosted
// endpoint's JavaScript program uses it, with only baseURL changed:
//   node client.mjs BASE_URL
// Prints one "ok - ..." or "FAIL - ..." line per check; exits 1 on a failure.
import OpenAI from "openai";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: process.env.L32_TEST_KEY ?? "none", maxRetries: 0, timeout: 60000 });
const messages = [
  { role: "system", content: "Act like you are a helpful assistant." },
  { role: "user", content: "Hi there!" },
];
const model = "meta-llama/llama-3.2-3b-instruct";
let failed = 0;
const check = (name, ok, detail) => {
  if (ok) console.log(`ok - ${name}`);
  else { failed++; console.log(`FAIL - ${name}${detail ? ": " + detail : ""}`); }
};

const r = await client.chat.completions.create({ model, messages, max_tokens: 512, seed: 11 });
check("node: chat.completions.create", r.object === "chat.completion" &&
  r.usage.prompt_tokens === 46 && typeof r.choices[0].message.content === "string" &&
  r.choices[0].finish_reason !== null, JSON.stringify(r).slice(0, 300));

const stream = await client.chat.completions.create({ model, messages, max_tokens: 512, seed: 11, stream: true });
let text = "", last = null, n = 0;
for await (const chunk of stream) {
  n++;
  text += chunk.choices[0]?.delta?.content ?? "";
  last = chunk;
}
check("node: streamed, finish_reason on the last chunk", n > 2 && last.choices[0].finish_reason === r.choices[0].finish_reason,
  JSON.stringify(last));
check("node: streamed text is the non-streamed text", text === r.choices[0].message.content,
  `${JSON.stringify(text).slice(0, 100)} vs ${JSON.stringify(r.choices[0].message.content).slice(0, 100)}`);

// the package asks for base64 and decodes it
const e = await client.embeddings.create({ model, input: ["The quick brown fox", "jumps"] });
const norm = (v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
check("node: embeddings.create", e.data.length === 2 && e.data[0].embedding.length > 0 &&
  Math.abs(norm(e.data[0].embedding) - 1) < 1e-4, JSON.stringify(e).slice(0, 200));

const ids = [];
for await (const m of client.models.list()) ids.push(m.id);
check("node: models.list", ids.length === 1 && typeof ids[0] === "string", JSON.stringify(ids));

try {
  await client.chat.completions.create({ model: "gpt-4o", messages, max_tokens: 1 });
  check("node: unknown model is NotFoundError", false, "no error");
} catch (err) {
  check("node: unknown model is NotFoundError", err instanceof OpenAI.NotFoundError && err.code === "model_not_found",
    String(err));
}
process.exit(failed ? 1 : 0);
