// apiKey is sent as "Authorization: Bearer <key>": the right key lists the
// models, a wrong one is a 401 (AuthenticationError).
//   L32_TEST_KEY=key node keys.mjs BASE_URL
import OpenAI from "openai";

const baseURL = process.argv[2];
const good = new OpenAI({ baseURL, apiKey: process.env.L32_TEST_KEY, maxRetries: 0, timeout: 30000 });
const wrong = new OpenAI({ baseURL, apiKey: "sk-wrong", maxRetries: 0, timeout: 30000 });
const ids = [];
for await (const m of good.models.list()) ids.push(m.id);
let err = null;
try {
  await wrong.models.list();
} catch (e) {
  err = e;
}
const ok = ids.length === 1 && err instanceof OpenAI.AuthenticationError && err.code === "invalid_api_key";
console.log(ok ? "ok" : `bad: ${JSON.stringify(ids)} ${err}`);
process.exit(ok ? 0 : 1);
