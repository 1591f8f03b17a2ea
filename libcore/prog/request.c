/* request.c - request fields that several programs read the same way. */
#include <stdio.h>
#include <string.h>

#include "prog/l32_prog.h"

static int
chat_format(json_t *body, struct l32_chat_opts *o, struct l32_err *err)
{
	const char *s = NULL;

	if (l32_json_get_str(body, "chat_format", &s, NULL, err) == -1)
		return -1;
	if (s == NULL)
		return 0;
	if (strcmp(s, "meta") == 0)
		o->format = L32_CHAT_META;
	else if (strcmp(s, "hf") == 0)
		o->format = L32_CHAT_HF;
	else
		return l32_err_param(err, L32_ERR_INVALID, "chat_format",
		    "chat_format \"%s\" is not \"hf\" or \"meta\"", s);
	return 0;
}

static int
tool_format(json_t *body, struct l32_chat_opts *o, struct l32_err *err)
{
	const char *s = NULL;

	if (l32_json_get_str(body, "tool_prompt_format", &s, NULL, err) == -1)
		return -1;
	if (s == NULL)
		return 0;
	if (strcmp(s, "json") == 0)
		o->tool_format = L32_TOOL_JSON;
	else if (strcmp(s, "function_tag") == 0)
		o->tool_format = L32_TOOL_FUNCTION_TAG;
	else if (strcmp(s, "python_list") == 0)
		o->tool_format = L32_TOOL_PYTHON_LIST;
	else
		return l32_err_param(err, L32_ERR_INVALID, "tool_prompt_format",
		    "tool_prompt_format \"%s\" is not json, function_tag or python_list", s);
	return 0;
}

/* chat_template_kwargs, as vLLM's and llama.cpp's servers take them. */
static int
template_kwargs(json_t *body, struct l32_chat_opts *o, struct l32_err *err)
{
	json_t *kw = json_object_get(body, "chat_template_kwargs");
	char param[sizeof(err->param)];

	if (kw == NULL || json_is_null(kw))
		return 0;
	if (!json_is_object(kw))
		return l32_err_param(err, L32_ERR_INVALID, "chat_template_kwargs",
		    "chat_template_kwargs must be an object");
	if (l32_json_get_str(kw, "date_string", &o->date_string, NULL, err) == -1 ||
	    l32_json_get_bool(kw, "tools_in_user_message", &o->tools_in_user_message, err) == -1 ||
	    l32_json_get_bool(kw, "add_generation_prompt", &o->add_generation_prompt, err) == -1) {
		snprintf(param, sizeof(param), "chat_template_kwargs.%.100s", err->param);
		memcpy(err->param, param, sizeof(param));
		return -1;
	}
	if (o->date_string != NULL && l32_opt_text(NULL, o->date_string) == -1)
		return l32_err_param(err, L32_ERR_INVALID, "chat_template_kwargs.date_string",
		    "chat_template_kwargs.date_string is empty");
	return 0;
}

int
l32_chat_opts_from_request(json_t *body, struct l32_chat_opts *o, struct l32_err *err)
{
	if (chat_format(body, o, err) == -1 || tool_format(body, o, err) == -1)
		return -1;
	if (l32_json_get_bool(body, "add_generation_prompt", &o->add_generation_prompt, err) == -1)
		return -1;
	return template_kwargs(body, o, err);
}
