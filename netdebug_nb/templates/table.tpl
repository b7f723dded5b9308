{# netdebug's table: pandas' html_table.tpl plus a scroll box, right-aligned numeric headers and a "N more rows" line. #}
{% extends "html_table.tpl" %}
{% block before_table %}<div class="{{ wrapper_class }}" style="overflow-x: auto; max-width: 100%">
{% endblock before_table %}
{% block head_tr scoped %}
    <tr>
{% for c in r %}
{% if c.is_visible != False %}
      <{{c.type}} {%- if c.id is defined %} id="T_{{uuid}}_{{c.id}}" {%- endif %} class="{{c.class}}{% if c.type == 'th' and c.class.split()[-1] in num_cols and 'col_heading' in c.class %} num{% endif %}" {{c.attributes}}>{{c.display_value}}</{{c.type}}>
{% endif %}
{% endfor %}
    </tr>
{% endblock head_tr %}
{% block after_table %}
{% if more %}<div class="netdebug-more">{{ more }}{% if csv %}; full table: <a href="{{ csv }}">{{ csv }}</a>{% endif %}</div>
{% endif %}</div>
{% endblock after_table %}
