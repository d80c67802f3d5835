/* yaml_tags.c — which nodes of a YAML document carry a written tag (from libyaml's events: its
 * document API cannot tell '!!str 5' from '5'), and what such a tag asks of the node. It does
 * not convert values: the readers do, told whether a scalar is a text or a value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/yaml_tags.h"

void hsi_yaml_tags_free(hsi_yaml_tags *t)
{
    free(t->written);
    t->written = NULL;
    t->n = 0;
}

/* Every scalar, sequence-start and mapping-start event makes the document's next node (aliases
 * make none), in event order: the event's tag, written unless libyaml implied it. */
int hsi_yaml_tags_scan(const char *text, size_t len, hsi_yaml_tags *t)
{
    size_t cap = 0;
    t->written = NULL;
    t->n = 0;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return -1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) break;
        yaml_event_type_t k = ev.type;
        int node = 1, written = 0;
        if (k == YAML_SCALAR_EVENT)
            written = ev.data.scalar.tag && !ev.data.scalar.plain_implicit &&
                      !ev.data.scalar.quoted_implicit;
        else if (k == YAML_SEQUENCE_START_EVENT)
            written = ev.data.sequence_start.tag && !ev.data.sequence_start.implicit;
        else if (k == YAML_MAPPING_START_EVENT)
            written = ev.data.mapping_start.tag && !ev.data.mapping_start.implicit;
        else
            node = 0;
        yaml_event_delete(&ev);
        if (k == YAML_DOCUMENT_END_EVENT || k == YAML_STREAM_END_EVENT) break;
        if (!node) continue;
        if (t->n == cap) {
            cap = cap ? 2 * cap : 256;
            unsigned char *w = realloc(t->written, cap);
            if (!w) {
                rc = -1;
                break;
            }
            t->written = w;
        }
        t->written[t->n++] = (unsigned char)written;
    }
    yaml_parser_delete(&parser);
    if (rc) hsi_yaml_tags_free(t);
    return rc;
}

static const char core[] = "tag:yaml.org,2002:";   /* what "!!" stands for */

static int one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set)) return 1;
    return 0;
}

/* The text fits the core tag (YAML 1.2's core schema; integers in decimal). */
static int fits(const char *tag, const char *s)
{
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    if (!strcmp(tag, "str")) return 1;
    if (!strcmp(tag, "bool")) return one_of(s, bools);
    if (!strcmp(tag, "null")) return one_of(s, nulls);
    const char *p = s + (*s == '-' || *s == '+');
    if (!strcmp(tag, "int")) return *p && strspn(p, "0123456789") == strlen(p);
    char *end;
    strtod(s, &end);
    return !strcmp(tag, "float") && end != s && !*end && !strchr(s, 'x') && !strchr(s, 'X');
}

int hsi_yaml_tag_check(const hsi_yaml_tags *t, const yaml_document_t *doc, const yaml_node_t *n,
                       const char *file, char *why, size_t whylen)
{
    size_t id = (size_t)(n - doc->nodes.start);
    const char *tag = (const char *)n->tag;
    if (id >= t->n || !t->written[id] || !tag) return HSI_YTAG_NONE;
    int is_core = !strncmp(tag, core, sizeof core - 1);
    const char *name = is_core ? tag + sizeof core - 1 : tag;
    static const char *const scalars[] = {"str", "int", "float", "bool", "null", NULL};
    static const char *const kinds[] = {"a value", "a list", "a mapping"};
    int kind = n->type == YAML_SEQUENCE_NODE ? 1 : n->type == YAML_MAPPING_NODE ? 2 : 0;
    int want = !is_core ? -1 : one_of(name, scalars) ? 0 : !strcmp(name, "seq") ? 1
               : !strcmp(name, "map") ? 2 : -1;
    if (want < 0) {
        snprintf(why, whylen, "a value tagged '%s%.100s'; %s holds plain values (the only tags "
                 "read are !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)%s",
                 is_core ? "!!" : "", name, file, strstr(tag, "python/") ? "; a Python or numpy "
                 "object dumped by PyYAML? convert it to a plain number, text or list first" : "");
        return -1;
    }
    if (want != kind) {
        snprintf(why, whylen, "%s tagged !!%s, the tag of %s", kinds[kind], name, kinds[want]);
        return -1;
    }
    if (kind) return HSI_YTAG_NONE;
    const char *s = (const char *)n->data.scalar.value;
    if (!fits(name, s)) {
        static const char *const what[] = {"", "an integer", "a number", "true or false",
                                           "null (~, null or nothing)"};
        int w = !strcmp(name, "int") ? 1 : !strcmp(name, "float") ? 2 : !strcmp(name, "bool") ? 3 : 4;
        snprintf(why, whylen, "tagged !!%s, but '%.60s' is not %s", name, s, what[w]);
        return -1;
    }
    return !strcmp(name, "str") ? HSI_YTAG_TEXT : HSI_YTAG_VALUE;
}
