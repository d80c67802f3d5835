/* yaml_tags.h — the explicit tags of a YAML file, read one way by every YAML reader of the
 * runtime (experiments, --set values and sweeps: io/config.c; dataset registries:
 * data/registry.c). libyaml's document API gives an untagged node the core tag of its kind, so
 * which nodes carry a written tag is taken from the event stream first (hsi_yaml_tags_scan).
 *
 *   !!str 0.01      a text (a number's check then refuses it, as it does "0.01")
 *   !!int / !!float / !!bool / !!null   checked against the text ('!!int 0.5' is an error)
 *   !!seq / !!map   checked against the node's kind
 *   !foo, !!python/...   refused: the files hold plain values
 * Not a public API.
 */
#ifndef HSI_YAML_TAGS_H
#define HSI_YAML_TAGS_H

#include <stddef.h>
#include <yaml.h>

/* written[k]: node k + 1 of the first document (yaml_document_get_node's index) has a tag in
 * the text. */
typedef struct hsi_yaml_tags {
    unsigned char *written;
    size_t n;
} hsi_yaml_tags;

/* Scans the first document of text. 0, or -1 out of memory; a syntax error ends the scan (the
 * document load reports it). */
int hsi_yaml_tags_scan(const char *text, size_t len, hsi_yaml_tags *t);
void hsi_yaml_tags_free(hsi_yaml_tags *t);

enum {
    HSI_YTAG_NONE = 0,   /* no tag written: the node reads as its text and style say */
    HSI_YTAG_TEXT = 1,   /* a scalar tagged !!str: a text even when it looks like a number */
    HSI_YTAG_VALUE = 2   /* a scalar tagged !!int, !!float, !!bool or !!null that fits it:
                            a value even when quoted */
};
/* What the tag of node n of doc asks: one of the above, or -1 with the reason in why ("a value
 * tagged '!foo'; FILE holds plain values...", "tagged !!int, but '0.5' is not an integer");
 * file names the kind of file ("an experiment"). */
int hsi_yaml_tag_check(const hsi_yaml_tags *t, const yaml_document_t *doc, const yaml_node_t *n,
                       const char *file, char *why, size_t whylen);

#endif /* HSI_YAML_TAGS_H */
