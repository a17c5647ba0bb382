#!/usr/bin/env python3
# Regenerate: /work/pyenv/bin/python tests/data/make_chat_templates.py tests/data/chat_templates.json
"""Renders Jinja chat templates with transformers' own environment; writes the expected outputs."""
import json, sys
from transformers.utils.chat_template_utils import _compile_jinja_template

TEMPLATES = {
 "llama3_style": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
 "alternating_inst": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
 "multiline_blocks": """{% for message in messages %}
    {% if message.role == 'system' %}
<|system|>
{{ message.content.strip() }}</s>
    {% elif message.role == 'user' %}
<|user|>
{{ message.content }}</s>
    {% else %}
<|assistant|>
{{ message.content }}{{ eos_token }}
    {% endif %}
    {% if loop.last and add_generation_prompt %}
<|assistant|>
    {% endif %}
{% endfor %}""",
 "namespace_methods": "{% set ns = namespace(sys='', n=0) %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.sys = m.content.upper() %}{% else %}{% set ns.n = ns.n + 1 %}{% endif %}{% endfor %}[{{ ns.sys }}|{{ ns.n }}]{% for m in messages if m.role != 'system' %}{{ m.role.title() }}: {{ m.content.replace('  ', ' ').lstrip() }}{{ '|' if not loop.last }}{% if m.content.startswith('Q') %}?{% endif %}{{ m.content.split(' ') | length }}{% endfor %}{{ messages | map(attribute='role') | list | tojson }}{{ {'k': messages[-1].content, 'n': [1, 2.5, none, true]} | tojson(indent=2) }}{% if add_generation_prompt %}>>{% endif %}",
}
MESSAGES = [
  [{"role": "user", "content": "Hi there!"}],
  [{"role": "system", "content": "  Be terse.  "}, {"role": "user", "content": "Question  one?"}, {"role": "assistant", "content": "Answer é 日本 👍"}, {"role": "user", "content": " Next\nline \"quoted\" <tag> & more"}],
]
out = []
for name, src in TEMPLATES.items():
    t = _compile_jinja_template(src)
    for msgs in MESSAGES:
        for agp in (False, True):
            try:
                text = t.render(messages=msgs, add_generation_prompt=agp, bos_token="<s>", eos_token="</s>")
                err = None
            except Exception as e:
                text, err = None, str(e)
            out.append({"template": name, "source": src, "messages": msgs, "add_generation_prompt": agp, "text": text, "error": err})
json.dump({"cases": out}, open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
print(len(out), sum(c["error"] is not None for c in out))
