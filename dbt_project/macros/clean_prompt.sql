{#
  The research team's prompt cleaning, step for step:
    1. keep what follows a leading `<digits>_`, up to the first line break (\n or \r);
    2. collapse every run of ONE repeated ASCII punctuation character (Python's
       string.punctuation, `_` included) to a single one; different characters
       side by side stay, non-ASCII punctuation is left alone;
    3. `_` -> space;
    4. strip whitespace as Python's str.strip() does (Unicode spaces included).
  RE2 has no back-references, so step 2 is one regexp_replace per character
  (`\x{hh}+` -> the character). Characters are written as code points so that
  no quote or backslash has to survive Jinja and SQL quoting.
#}
{% macro clean_prompt(column) -%}
{%- set codes = (range(33, 48) | list) + (range(58, 65) | list) + (range(91, 97) | list) + (range(123, 127) | list) -%}
{%- set ns = namespace(expr="split_part(split_part(regexp_replace(" ~ column ~ ", '^[0-9]+_', ''), chr(10), 1), chr(13), 1)") -%}
{%- for code in codes -%}
  {%- set replacement = "chr(92) || chr(92)" if code == 92 else "chr(" ~ code ~ ")" -%}
  {%- set ns.expr = "regexp_replace(" ~ ns.expr ~ ", chr(92) || 'x{" ~ ("%02x" | format(code)) ~ "}+', " ~ replacement ~ ", 'g')" -%}
{%- endfor -%}
regexp_replace(
    replace({{ ns.expr }}, '_', ' '),
    '^[\s\x{0b}\x{1c}-\x{1f}\x{85}\pZ]+|[\s\x{0b}\x{1c}-\x{1f}\x{85}\pZ]+$',
    '',
    'g'
)
{%- endmacro %}
