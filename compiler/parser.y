/* parser.y — netdef grammar (pure bison parser, locations as src_span) -> AST (ast.h).
 *
 *   file   := { decl | NL }
 *   decl   := "net" ID "(" [params] ")" body  |  ["shared"] "block" ID ["(" [params] ")"] body
 *   params := ID ["=" expr] { "," ID ["=" expr] }
 *   body   := "{" stmt { (NL | ";") stmt } "}"          (empty statements allowed)
 *   stmt   := [ID "="] elem { elem }  |  [ID "="] "input" "[" exprs "]"  |  "loss" ID ["(" args ")"]
 *   elem   := ID ["(" [args] ")"]  |  ID list  |  "repeat" expr ["from" expr] body
 *           | "residual" ["(" [args] ")"] body
 *           | "branch" ["(" [args] ")"] "{" stmts { "|" stmts } "}" ID
 *   args   := [ID "="] expr { "," [ID "="] expr }
 *   expr   := expr (+ - * / %) expr | expr (< <= > >= == !=) expr | "-" expr | "(" expr ")"
 *           | INT | FLOAT | true | false | ID | ID "(" [args] ")" | "[" [exprs] "]" | body
 *             (comparisons bind looser than + -, and do not chain: a < b < c is an error;
 *              functions such as min, max, if are calls, evaluated by sema_expr.c)
 * It does not resolve names or compute anything (sema_*.c). After a syntax error it skips
 * to the end of the statement and goes on, so several errors can be reported at once; memory
 * is the arena's, so no %destructor is needed.
 */
%code requires {
#include "ast.h"

#define LEX_MAX_NEST 64      /* open brackets at once */
#define LEX_MAX_IDENT 63     /* characters of an identifier */
#define PARSE_MAX_EXPR_DEPTH 100

typedef struct lex_ctx {
    mem_arena *arena;
    diag *d;
    const char *file;
    int line, col;                 /* position of the next byte */
    char stack[LEX_MAX_NEST];      /* open brackets */
    src_span open[LEX_MAX_NEST];   /* where each was opened */
    int eof_reported;              /* the lexer already explained the end of file */
    size_t arena_start;            /* arena bytes before the parse (FE_MAX_AST_BYTES) */
    int depth;
    src_span comment_start;
    ast_file *file_ast;            /* the result */
} lex_ctx;

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                        \
    do {                                                                   \
        if (N) {                                                           \
            (Cur).file = YYRHSLOC(Rhs, 1).file;                            \
            (Cur).line = YYRHSLOC(Rhs, 1).line;                            \
            (Cur).col = YYRHSLOC(Rhs, 1).col;                              \
            (Cur).end_line = YYRHSLOC(Rhs, N).end_line;                    \
            (Cur).end_col = YYRHSLOC(Rhs, N).end_col;                      \
        } else {                                                           \
            (Cur).file = YYRHSLOC(Rhs, 0).file;                            \
            (Cur).line = (Cur).end_line = YYRHSLOC(Rhs, 0).end_line;       \
            (Cur).col = (Cur).end_col = YYRHSLOC(Rhs, 0).end_col;          \
        }                                                                  \
    } while (0)
}

%code provides {
int yylex(YYSTYPE *lval, YYLTYPE *lloc, void *scanner);
}

%code {
#include <string.h>

#include "frontend.h"   /* FE_MAX_AST_BYTES, FE_MAX_NODES */

/* yylex, and the syntax tree's memory checked at every token: reading stops at the limit with
 * one error there (a 16 MiB file of 'relu' lines took the compiler's whole 1 GiB, then "out of
 * memory" without a place). */
static int lex_counted(YYSTYPE *lval, YYLTYPE *lloc, void *scanner, lex_ctx *x)
{
    int t = (yylex)(lval, lloc, scanner);
    if (t == END || x->arena->used_total - x->arena_start <= FE_MAX_AST_BYTES) return t;
    if (!x->d->errors) {   /* after a syntax error, the rest is skipped: stop without a word */
        diag_error(x->d, *lloc, "the netdef is too large: its syntax tree passes %d MiB here",
                   FE_MAX_AST_BYTES >> 20);
        diag_hint(x->d, "a net takes at most %d layers; write repeated layers with repeat N { ... }",
                  FE_MAX_NODES);
    }
    x->eof_reported = 1;   /* no "unexpected end of file" after it */
    return END;
}
#define yylex(lval, lloc, scanner) lex_counted(lval, lloc, scanner, x)

/* Brackets nest at most LEX_MAX_NEST deep, so only a chain of unary '-' (right-recursive:
 * "- - - ... 1") can fill the parser's stack; it is reported as the expression depth it is,
 * not as bison's "memory exhausted". */
#define YYMAXDEPTH 2000

static void yyerror(YYLTYPE *loc, void *scanner, lex_ctx *x, const char *msg)
{
    (void)scanner;
    int at_eof = strstr(msg, "unexpected end of file") != NULL;
    if (at_eof && x->eof_reported) return;
    if (strcmp(msg, "memory exhausted") == 0) {
        diag_error(x->d, *loc, "expression nested too deeply (more than %d levels)",
                   PARSE_MAX_EXPR_DEPTH);
        return;
    }
    diag_error(x->d, *loc, "%s", msg);
    const char *u = strstr(msg, "unexpected '");   /* a comparison where none can be */
    if (u && (((u[12] == '<' || u[12] == '>') && (u[13] == '\'' || u[13] == '=')) ||
              ((u[12] == '=' || u[12] == '!') && u[13] == '=')))
        diag_hint(x->d, "comparisons do not chain: a < b < c is an error; compare two values");
    if (at_eof && x->depth > 0 && x->depth <= LEX_MAX_NEST) {
        src_span o = x->open[x->depth - 1];
        diag_note(x->d, o, "this '%c' is not closed", x->stack[x->depth - 1]);
    }
}

static ast_expr *mk_expr(lex_ctx *x, ast_expr_kind k, src_span sp)
{
    ast_expr *e = mem_alloc(x->arena, sizeof *e);
    e->kind = k;
    e->span = sp;
    e->depth = 1;
    return e;
}

static ast_expr *mk_bin(lex_ctx *x, int op, ast_expr *l, ast_expr *r, src_span sp)
{
    ast_expr *e = mk_expr(x, op ? AE_BIN : AE_NEG, sp);
    e->op = op;
    e->lhs = l;
    e->rhs = r;
    e->depth = 1 + (l->depth > (r ? r->depth : 0) ? l->depth : r->depth);
    if (e->depth == PARSE_MAX_EXPR_DEPTH + 1)
        diag_error(x->d, sp, "expression nested too deeply (more than %d levels)",
                   PARSE_MAX_EXPR_DEPTH);
    return e;
}

static ast_elem *mk_elem(lex_ctx *x, ast_elem_kind k, src_span sp)
{
    ast_elem *e = mem_alloc(x->arena, sizeof *e);
    e->kind = k;
    e->span = sp;
    return e;
}

static ast_arg *mk_arg(lex_ctx *x, const char *name, src_span sp, ast_expr *v)
{
    ast_arg *a = mem_alloc(x->arena, sizeof *a);
    a->name = name;
    a->name_span = sp;
    a->value = v;
    return a;
}

static ast_vec *mk_vec(lex_ctx *x, void *first)
{
    ast_vec *v = mem_alloc(x->arena, sizeof *v);
    if (first) ast_push(x->arena, v, first);
    return v;
}
}

%define api.pure full
%define parse.error detailed
%locations
%define api.location.type {src_span}
%param {void *scanner}
%parse-param {lex_ctx *x}
%expect 0

%union {
    char *str;
    int64_t i;
    double f;
    ast_expr *expr;
    ast_arg *arg;
    ast_elem *elem;
    ast_stmt *stmt;
    ast_body *body;
    ast_decl *decl;
    ast_param *param;
    ast_vec *vec;
}

%token END 0 "end of file"
%token NET "'net'" BLOCK "'block'" SHARED "'shared'" INPUT "'input'" REPEAT "'repeat'"
%token RESIDUAL "'residual'" BRANCH "'branch'" LOSS "'loss'"
%token NL "end of line"
%token LE "'<='" GE "'>='" EQ "'=='" NE "'!='"
%token <str> IDENT "identifier"
%token <i> INT "integer" BOOL "'true' or 'false'"
%token <f> FLOAT "number"

%type <expr> expr list
%type <arg> arg
%type <vec> args opt_args exprs params opt_params elems stmts arms call_args
%type <param> param
%type <elem> elem
%type <stmt> stmt opt_stmt
%type <body> body
%type <decl> decl

%nonassoc '<' '>' LE GE EQ NE
%left '+' '-'
%left '*' '/' '%'
%precedence NEG

%%

file
    : %empty
    | file NL
    | file decl            { ast_push(x->arena, &x->file_ast->decls, $2); }
    | file error NL        { yyerrok; }
    ;

decl
    : NET IDENT '(' opt_params ')' body
        { $$ = mem_alloc(x->arena, sizeof *$$); $$->is_net = 1; $$->name = $2; $$->span = @2;
          $$->params = *$4; $$->body = $6; }
    | BLOCK IDENT opt_params_paren body
        { $$ = mem_alloc(x->arena, sizeof *$$); $$->name = $2; $$->span = @2;
          $$->params = *$<vec>3; $$->body = $4; }
    | SHARED BLOCK IDENT opt_params_paren body
        { $$ = mem_alloc(x->arena, sizeof *$$); $$->shared = 1; $$->name = $3; $$->span = @3;
          $$->params = *$<vec>4; $$->body = $5; }
    ;

opt_params_paren
    : %empty                  { $<vec>$ = mk_vec(x, NULL); }
    | '(' opt_params ')'      { $<vec>$ = $2; }
    ;

opt_params
    : %empty                  { $$ = mk_vec(x, NULL); }
    | params
    ;

params
    : param                   { $$ = mk_vec(x, $1); }
    | params ',' param        { ast_push(x->arena, $1, $3); $$ = $1; }
    ;

param
    : IDENT                   { $$ = mem_alloc(x->arena, sizeof *$$); $$->name = $1; $$->span = @1; }
    | IDENT '=' expr          { $$ = mem_alloc(x->arena, sizeof *$$); $$->name = $1; $$->span = @1;
                                $$->def = $3; }
    ;

body
    : '{' stmts '}'           { $$ = mem_alloc(x->arena, sizeof *$$); $$->span = @$;
                                $$->stmts = *$2; }
    ;

stmts
    : opt_stmt                { $$ = mk_vec(x, $1); }
    | stmts sep opt_stmt      { if ($3) ast_push(x->arena, $1, $3); $$ = $1; }
    ;

sep : NL | ';' ;

opt_stmt
    : %empty                  { $$ = NULL; }
    | stmt
    | error                   { $$ = NULL; }
    ;

stmt
    : elems                   { $$ = mem_alloc(x->arena, sizeof *$$); $$->kind = ST_PIPE;
                                $$->span = @1; $$->elems = *$1; }
    | IDENT '=' elems         { $$ = mem_alloc(x->arena, sizeof *$$); $$->kind = ST_PIPE;
                                $$->span = @3; $$->elems = *$3; $$->assign = $1;
                                $$->assign_span = @1; }
    | INPUT list              { $$ = mem_alloc(x->arena, sizeof *$$); $$->kind = ST_INPUT;
                                $$->span = @$; $$->dims = $2; }
    | IDENT '=' INPUT list    { $$ = mem_alloc(x->arena, sizeof *$$); $$->kind = ST_INPUT;
                                $$->span = @3; $$->dims = $4; $$->assign = $1;
                                $$->assign_span = @1; }
    | LOSS IDENT call_args    { $$ = mem_alloc(x->arena, sizeof *$$); $$->kind = ST_LOSS;
                                $$->span = @$; $$->loss = $2; $$->loss_span = @2;
                                $$->loss_args = *$3; }
    ;

elems
    : elem                    { $$ = mk_vec(x, $1); }
    | elems elem              { ast_push(x->arena, $1, $2); $$ = $1; }
    ;

elem
    : IDENT                   { $$ = mk_elem(x, EL_CALL, @1); $$->name = $1; }
    | IDENT '(' opt_args ')'  { $$ = mk_elem(x, EL_CALL, @1); $$->name = $1; $$->parens = 1;
                                $$->args = *$3; }
    | IDENT list              { $$ = mk_elem(x, EL_CALL, @1); $$->name = $1; $$->parens = 1;
                                ast_push(x->arena, &$$->args, mk_arg(x, NULL, @2, $2)); }
    | REPEAT expr body        { $$ = mk_elem(x, EL_REPEAT, @1); $$->count = $2; $$->body = $3; }
    | REPEAT expr IDENT expr body
        { $$ = mk_elem(x, EL_REPEAT, @1); $$->count = $2; $$->body = $5; $$->start = $4;
          if (strcmp($3, "from")) {
            diag_error(x->d, @3, "expected 'from' or '{' after the repeat count, got '%s'", $3);
            diag_hint(x->d, "repeat N { ... } or repeat N from FIRST { ... }");
          } }
    | RESIDUAL call_args body { $$ = mk_elem(x, EL_RESIDUAL, @1); $$->args = *$2; $$->body = $3; }
    | BRANCH call_args '{' arms '}' IDENT
        { $$ = mk_elem(x, EL_BRANCH, @1); $$->args = *$2; $$->arms = *$4; $$->combine = $6;
          $$->combine_span = @6; }
    ;

call_args
    : %empty                  { $$ = mk_vec(x, NULL); }
    | '(' opt_args ')'        { $$ = $2; }
    ;

arms
    : stmts                   { ast_body *b = mem_alloc(x->arena, sizeof *b); b->span = @1;
                                b->stmts = *$1; $$ = mk_vec(x, b); }
    | arms '|' stmts          { ast_body *b = mem_alloc(x->arena, sizeof *b); b->span = @3;
                                b->stmts = *$3; ast_push(x->arena, $1, b); $$ = $1; }
    ;

opt_args
    : %empty                  { $$ = mk_vec(x, NULL); }
    | args
    ;

args
    : arg                     { $$ = mk_vec(x, $1); }
    | args ',' arg            { ast_push(x->arena, $1, $3); $$ = $1; }
    ;

arg
    : expr                    { $$ = mk_arg(x, NULL, @1, $1); }
    | IDENT '=' expr          { $$ = mk_arg(x, $1, @1, $3); }
    ;

exprs
    : expr                    { $$ = mk_vec(x, $1); }
    | exprs ',' expr          { ast_push(x->arena, $1, $3); $$ = $1; }
    ;

list
    : '[' ']'                 { $$ = mk_expr(x, AE_LIST, @$); }
    | '[' exprs ']'           { $$ = mk_expr(x, AE_LIST, @$); $$->items = *$2;
                                for (int i = 0; i < $2->n; i++) {
                                  int d = ((ast_expr *)$2->v[i])->depth + 1;
                                  if (d > $$->depth) $$->depth = d;
                                }
                                if ($$->depth == PARSE_MAX_EXPR_DEPTH + 1)
                                  diag_error(x->d, @$, "expression nested too deeply (more than %d levels)",
                                             PARSE_MAX_EXPR_DEPTH); }
    ;

expr
    : INT                     { $$ = mk_expr(x, AE_INT, @1); $$->i = $1; }
    | FLOAT                   { $$ = mk_expr(x, AE_FLOAT, @1); $$->f = $1; }
    | BOOL                    { $$ = mk_expr(x, AE_BOOL, @1); $$->i = $1; }
    | IDENT                   { $$ = mk_expr(x, AE_NAME, @1); $$->name = $1; }
    | IDENT '(' opt_args ')'  { $$ = mk_expr(x, AE_CALL, @1); $$->name = $1; $$->items = *$3;
                                for (int i = 0; i < $3->n; i++) {
                                  int d = ((ast_arg *)$3->v[i])->value->depth + 1;
                                  if (d > $$->depth) $$->depth = d;
                                }
                                if ($$->depth == PARSE_MAX_EXPR_DEPTH + 1)
                                  diag_error(x->d, @$, "expression nested too deeply (more than %d levels)",
                                             PARSE_MAX_EXPR_DEPTH); }
    | list
    | body                    { $$ = mk_expr(x, AE_PIPE, @1); $$->body = $1; }
    | '(' expr ')'            { $$ = $2; }
    | '-' expr %prec NEG      { $$ = mk_bin(x, 0, $2, NULL, @$); }
    | expr '+' expr           { $$ = mk_bin(x, '+', $1, $3, @$); }
    | expr '-' expr           { $$ = mk_bin(x, '-', $1, $3, @$); }
    | expr '*' expr           { $$ = mk_bin(x, '*', $1, $3, @$); }
    | expr '/' expr           { $$ = mk_bin(x, '/', $1, $3, @$); }
    | expr '%' expr           { $$ = mk_bin(x, '%', $1, $3, @$); }
    | expr '<' expr           { $$ = mk_bin(x, '<', $1, $3, @$); }
    | expr '>' expr           { $$ = mk_bin(x, '>', $1, $3, @$); }
    | expr LE expr            { $$ = mk_bin(x, AST_OP_LE, $1, $3, @$); }
    | expr GE expr            { $$ = mk_bin(x, AST_OP_GE, $1, $3, @$); }
    | expr EQ expr            { $$ = mk_bin(x, AST_OP_EQ, $1, $3, @$); }
    | expr NE expr            { $$ = mk_bin(x, AST_OP_NE, $1, $3, @$); }
    ;

%%

#undef yylex   /* lex_counted's: lexer.h declares the real one */
#include "lexer.h"

ast_file *parse_text(mem_arena *a, diag *d, const char *file, const char *text, size_t len)
{
    lex_ctx x = {0};
    x.arena = a;
    x.d = d;
    x.file = file;
    x.line = x.col = 1;
    x.arena_start = a->used_total;
    x.file_ast = mem_alloc(a, sizeof *x.file_ast);
    yyscan_t scanner;
    if (yylex_init_extra(&x, &scanner)) return NULL;
    YY_BUFFER_STATE buf = yy_scan_bytes(text, (int)len, scanner);
    int errors = d->errors;
    int rc = yyparse(scanner, &x);
    yy_delete_buffer(buf, scanner);
    yylex_destroy(scanner);
    return rc == 0 && d->errors == errors ? x.file_ast : NULL;
}
