/* span.h — a place in a source file. Every AST and IR node carries one, so that any phase,
 * from the lexer to shape inference to emission, can report `file:line:col`. */
#ifndef HSICC_SPAN_H
#define HSICC_SPAN_H

typedef struct src_span {
    const char *file;        /* path as given on the command line; NULL for synthesized nodes */
    int line, col;           /* 1-based start */
    int end_line, end_col;   /* 1-based, inclusive end */
} src_span;

#endif
