#!/usr/bin/env python3
"""fuzz_cli.py — the hsicc command line on mutated netdefs, judged from outside.

compiler/fuzz_parser.c (libFuzzer) drives the library and only asks that nothing crash; this
runs the real commands and checks what a user sees. Every seed netdef (netdefs/, netdefs/zoo,
tests/*/ *.hsn) is mutated (tokens deleted, duplicated, swapped; numbers set to 0, -1, 2^31,
2^63, floats; identifiers swapped for built-ins, keywords, non-ASCII; NUL bytes, CRLF,
unterminated comments, truncation; statements wrapped in deep repeats and residuals; blocks
made to call themselves; -D values missing, doubled, malformed, zero, negative) and run with
`hsicc check` and, when it compiles, `hsicc emit -o DIR`. Each outcome must be one of

  exit 0  check prints its table; emit (with some of --backend ref, --no-fuse, --no-rewrite,
          --batch, --infer, two --domain) writes DIR/<stem>.c and .h (--infer: <stem>_infer.c,
          .h, hsirt/), which compile with cc -c -Wall -Werror -pedantic (--cc-check);
  exit 1  the first error line is `file:L:C: error: ...` with L and C inside the file (the
          column at most one past the line's last character), or `hsicc: error: ...`;
          emit leaves DIR without any file;
  exit 2  a usage error;

with --onnx, a net that emits is exported too (`hsicc onnx`, weights of the emitted parameter
table's names and shapes): exit 0 with a model that onnx.checker passes (full_check), or exit 1
with an error and no model;

and never a signal, a sanitizer report, a hang (--timeout), or memory past --mem-mb (ulimit -v;
leave it 0 under ASan, which reserves terabytes of address space, and pass
ASAN_OPTIONS=hard_rss_limit_mb=...). Failures are saved under --out/fail-N/ (the netdef, the
command, its output) for turning into regression cases.

  /usr/bin/python3 tests/front/fuzz_cli.py --hsicc build-san/compiler/hsicc --out /tmp/fz
      --count 2000 [--seed 1] [-j 2] [--timeout 10] [--mem-mb 0] [--cc-check cc] [--onnx]
      [--include runtime/include] [--log FILE] [--keep]
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOKEN = re.compile(rb'(#[^\n]*|//[^\n]*|/\*.*?\*/|[A-Za-z_][A-Za-z0-9_]*|'
                   rb'[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?|'
                   rb'<=|>=|==|!=|\n|[ \t\r]+|.)', re.S)
NUMBERS = [b'0', b'-1', b'1', b'2', b'3', b'7', b'65535', b'2147483647', b'2147483648',
           b'4294967296', b'9223372036854775807', b'9223372036854775808',
           b'18446744073709551616', b'99999999999999999999999', b'0.5', b'1.5', b'-0.0', b'1e308',
           b'1e-320', b'1e999', b'.5', b'1e3', b'0x10', b'-2147483648', b'46341', b'3037000500',
           b'(0 - 9223372036854775807 - 1)', b'(2147483647 + 1)', b'65536 * 65536']
WORDS = [b'net', b'block', b'shared', b'input', b'repeat', b'residual', b'branch', b'loss',
         b'true', b'false', b'from', b'concat', b'add', b'conv1d', b'conv2d', b'conv3d', b'bn',
         b'relu', b'dense', b'flatten', b'fold', b'reshape', b'permute', b'transpose', b'gru',
         b'lstm', b'maxpool', b'avgpool', b'global', b'same', b'valid', b'crop', b'lrn',
         b'prelu', b'softmax', b'dropout', b'channels', b'depth', b'height', b'width',
         b'length', b'bands', b'classes', b'patch', b'name', b'kernel', b'stride', b'pad',
         b'groups', b'init', b'head', b'weight', b'target', b'softmax_cross_entropy',
         b'pixel_cross_entropy', b'mse', b'l1', b'centre_spectrum', b'input_patch', b'int',
         b'static', b'__x', b'_X', b'ceil', b'floor', b'min', b'max', b'log2', b'if',
         b'x' * 63, b'y' * 64, 'd\u00e9pth'.encode(), 'ba\u0301nds'.encode(), b'\xef\xbb\xbf',
         b'\xc2\xa0', b'\xff', b'sequence', b'hidden', b'num_layers', b'bidirectional',
         b'label_smoothing', b'lr_mult', b'freeze', b'shortcut', b'dims', b'offset', b'size']
INSERTS = [b'\0', b'\r\n', b'\r', b'/*', b'*/', b'"', b"'", b'\xff', b'\xc3', b'{', b'}', b'(',
           b')', b'[', b']', b'|', b';', b'\n', b'=', b',', b'-', b'%', b'/', b'\t', b'\x0b',
           b'\x1b', b'\\', b'#', b'//', b'\xe2\x80\x8b', b'\xf0\x9f\x98\x80', b'\xed\xa0\x80']


def load_seeds():
    seeds = []
    for d in ['netdefs', 'netdefs/zoo'] + sorted(
            os.path.relpath(os.path.join(ROOT, 'tests', t))
            for t in os.listdir(os.path.join(ROOT, 'tests'))):
        full = os.path.join(ROOT, d)
        for sub, _, files in os.walk(full):
            for f in sorted(files):
                if f.endswith('.hsn'):
                    with open(os.path.join(sub, f), 'rb') as fh:
                        seeds.append((os.path.join(sub, f), fh.read()))
            if d.startswith('netdefs'):
                break
    uniq = {}
    for p, t in seeds:
        uniq.setdefault(p, t)
    return sorted(uniq.items())


def params_of(text):
    """The net's parameter names (for -D mutations)."""
    names = []
    for m in re.finditer(rb'net\s+\w+\s*\(([^)]*)\)', text):
        names += re.findall(rb'(?:^|,)\s*([A-Za-z_]\w*)', m.group(1))
    return [n.decode() for n in names]


def mutate_tokens(rng, toks, seeds):
    sig = [i for i, t in enumerate(toks) if not t.isspace()]
    if not sig:
        return toks + [rng.choice(INSERTS)]
    op = rng.randrange(16)
    i = rng.choice(sig)
    t = toks[i]
    if op == 0:
        del toks[i]
    elif op == 1:
        toks.insert(i, t)
    elif op == 2:
        j = rng.choice(sig)
        toks[i], toks[j] = toks[j], toks[i]
    elif op in (3, 4):
        nums = [k for k in sig if toks[k][:1].isdigit()]
        k = rng.choice(nums) if nums else i
        toks[k] = rng.choice(NUMBERS) if op == 3 else b'%d' % rng.randrange(1, 12)
    elif op == 5:
        ids = [k for k in sig if re.match(rb'[A-Za-z_]', toks[k])]
        k = rng.choice(ids) if ids else i
        toks[k] = rng.choice(WORDS) if rng.random() < 0.7 else toks[rng.choice(ids or [i])]
    elif op == 6:
        toks.insert(i, rng.choice(INSERTS))
    elif op == 7:   # a run of statements wrapped in a repeat or residual, possibly deep
        nl = [k for k, x in enumerate(toks) if x == b'\n']
        if len(nl) >= 2:
            a, b = sorted(rng.sample(nl, 2))
            depth = rng.choice([1, 1, 2, 5, 40, 70])
            kind = rng.choice([b'repeat %d ' % rng.choice([0, 1, 2, 1000, 200001, 100000000]),
                               b'residual ', b'branch ', b'repeat -1 '])
            opener = (kind + b'{ ') * depth
            closer = (b' }' + (b' concat' if kind == b'branch ' else b'')) * depth
            toks[a + 1:b] = [opener] + toks[a + 1:b] + [closer]
    elif op == 8:   # truncate
        del toks[i:]
    elif op == 9:   # splice a piece of another seed
        other = TOKEN.findall(rng.choice(seeds)[1])
        if other:
            a = rng.randrange(len(other))
            toks[i:i] = other[a:a + rng.randrange(1, 40)]
    elif op == 10:  # a block that calls itself, or a block made shared
        names = re.findall(rb'block\s+([A-Za-z_]\w*)', b''.join(toks))
        if names:
            nm = rng.choice(names)
            opens = [k for k, x in enumerate(toks) if x == b'{']
            if opens:
                toks.insert(rng.choice(opens) + 1, b' ' + nm + b' ')
        else:
            toks.insert(i, b'shared ')
    elif op == 11:  # a list where a number is
        toks[i] = rng.choice([b'[1, 2]', b'[]', b'[0]', b'[[1]]', b'[-1, -1]', b'[1,1,1,1,1,1]'])
    elif op == 12:  # change an operator
        ops = [k for k in sig if toks[k] in (b'+', b'-', b'*', b'/', b'%', b',', b'=', b'|')]
        k = rng.choice(ops) if ops else i
        toks[k] = rng.choice([b'+', b'-', b'*', b'/', b'%', b',', b'=', b'|', b'<', b'==', b'**'])
    elif op == 13:  # an expression blown up
        toks[i] = rng.choice([b'(' * 120 + b'1' + b')' * 120, b'-' * 300 + b'1',
                              b'1' + b' + 1' * 500, b'min(' * 50 + b'1' + b', 2)' * 50,
                              b'if(true, ' * 60 + b'1' + b', 2)' * 60])
    elif op == 14:  # unterminated comment or stray string
        toks.insert(i, rng.choice([b'/* ', b'"abc', b'# \xff\n', b'/* \0 */']))
    else:           # byte-level flips in one token
        b = bytearray(t)
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        toks[i] = bytes(b)
    return toks


def mutate(rng, text, seeds):
    toks = TOKEN.findall(text)
    for _ in range(rng.choice([1, 1, 1, 1, 1, 2, 3, 5])):
        toks = mutate_tokens(rng, toks, seeds)
    out = b''.join(toks)
    if rng.random() < 0.05:
        out = out.replace(b'\n', b'\r\n')
    return out


def mutate_defines(rng, text):
    params = params_of(text)
    defs = []
    if params and rng.random() < 0.15:   # every parameter small: degenerate shapes that compile
        for p in params:
            defs += ['-D', '%s=%d' % (p, rng.choice([1, 1, 2, 3, 4, 5, 7]))]
        return defs
    if not params or rng.random() < 0.6:
        return defs
    for _ in range(rng.choice([1, 1, 2, 3])):
        p = rng.choice(params + ['bnads', ''])
        v = rng.choice(['0', '-1', '1', '2', '3', '2147483647', '2147483648', '9223372036854775808',
                        '1.5', 'true', 'nan', 'inf', '', ' 3', '3 ', '1e400', '0x10', '[1,2]',
                        '-0', '100000', '\u00e9'])
        defs += ['-D', '%s=%s' % (p, v) if rng.random() < 0.95 else p]
    return defs


FIRST_ERR = re.compile(r'^(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): error: ', re.M)
SAN = re.compile(r'AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer|'
                 r'==\d+==ERROR')


def run(cmd, timeout, mem_mb, cwd=None):
    pre = (lambda: __import__('resource').setrlimit(
        __import__('resource').RLIMIT_AS, (mem_mb << 20, mem_mb << 20))) if mem_mb else None
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           preexec_fn=pre, cwd=cwd)
        return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired as e:
        return 'timeout', (e.stdout or b'').decode('utf-8', 'replace'), \
            (e.stderr or b'').decode('utf-8', 'replace')


def check_location(path, text, err):
    """The first error line: None when it is well placed, else what is wrong."""
    first = None
    for line in err.splitlines():
        if ': error: ' in line or line.startswith('hsicc: error:'):
            first = line
            break
    if first is None:
        return 'no error line'
    if first.startswith('hsicc: error:'):
        return None
    m = FIRST_ERR.match(first)
    if not m:
        if first.startswith(path + ': error: '):
            return None
        return 'unlocated error line: ' + first[:200]
    if m.group('file') != path:
        return 'error in another file: ' + first[:200]
    ln, col = int(m.group('line')), int(m.group('col'))
    lines = text.split(b'\n')
    if ln < 1 or ln > len(lines):
        return 'line %d outside the file (%d lines): %s' % (ln, len(lines), first[:200])
    s = lines[ln - 1]
    ncols = 0
    i = 0
    while i < len(s):   # columns as the lexer counts: a character, or an invalid byte
        c = s[i]
        k = 1
        if c >= 0xc2 and c <= 0xf4:
            want = 2 if c < 0xe0 else 3 if c < 0xf0 else 4
            try:
                s[i:i + want].decode('utf-8')
                k = want
            except UnicodeDecodeError:
                k = 1
        i += k
        ncols += 1
    if col < 1 or col > ncols + 1:
        return 'column %d outside line %d (%d columns): %s' % (col, ln, ncols, first[:200])
    return None


PARAM_ROW = re.compile(r'^    \{"([^"]+)", (\d), \{([-\d, ]+)\}, (\d+),', re.M)


def onnx_stage(args, path, defs, ecmd, odir, cfile, problems):
    """hsicc onnx on weights of the emitted parameter table's names and shapes: exit 0 with a
    model onnx.checker passes (full_check), or exit 1 with an error and no model."""
    import numpy as np
    import onnx
    sys.path.insert(0, os.path.join(ROOT, 'tests', 'torch'))
    import st_io
    with open(os.path.join(odir, cfile)) as f:
        text = f.read()
    at = text.find('param_table[N_PARAMS] = {')   # the parameter table only (not the domains')
    rows = PARAM_ROW.findall(text[at:text.find('\n};', at)]) if at >= 0 else []
    rng = np.random.default_rng(len(rows))
    items = []
    for name, nd, dims, numel in rows:
        shape = [int(x) for x in dims.split(',')][:int(nd)]
        if int(np.prod(shape, dtype=np.float64)) > 1 << 24:
            return   # too large to write here
        a = rng.standard_normal(shape).astype(np.float32) * 0.1
        if name.endswith('running_var'):
            a = np.abs(a) + 0.5
        items.append((name, a))
    w = os.path.join(odir, 'w.safetensors')
    st_io.write(w, items)
    model = os.path.join(odir, 'm.onnx')
    doms = [ecmd[i:i + 2] for i in range(len(ecmd)) if ecmd[i] == '--domain']
    cmd = [args.hsicc, 'onnx', path, '--weights', w, '-o', model] + defs + sum(doms, [])
    rc, out, err = run(cmd, args.timeout, args.mem_mb)
    if rc == 'timeout' or rc < 0 or rc > 128 or SAN.search(err) or rc not in (0, 1):
        problems.append('onnx: status %s: %s' % (rc, err[-400:]))
    elif rc == 1:
        if os.path.exists(model):
            problems.append('onnx: exit 1 left the model')
        if 'error' not in err:
            problems.append('onnx: exit 1 without an error')
    elif not os.path.exists(model):
        problems.append('onnx: exit 0 without a model')
    else:
        try:
            onnx.checker.check_model(onnx.load(model), full_check=True)
        except Exception as e:   # noqa: BLE001 (any checker complaint is the finding)
            problems.append('onnx: the model fails onnx.checker: %s' % str(e)[:400])


def one_case(args, n, seeds, rng_seed):
    rng = random.Random(rng_seed)
    good = [s for s in seeds if s[0] in args.good]
    src_path, src = rng.choice(good if good and rng.random() < 0.85 else seeds)
    text = mutate(rng, src, seeds) if rng.random() < 0.9 else src
    defs = mutate_defines(rng, text)
    work = tempfile.mkdtemp(prefix='c%d-' % n, dir=args.out)
    path = os.path.join(work, 'n.hsn')
    with open(path, 'wb') as f:
        f.write(text)
    problems = []
    rc, out, err = run([args.hsicc, 'check', path] + defs, args.timeout, args.mem_mb)
    cmd = ' '.join([args.hsicc, 'check', path] + defs)

    def judge(rc, out, err, cmd, what):
        if rc == 'timeout':
            problems.append('%s: timeout' % what)
        elif rc < 0 or rc > 128:
            problems.append('%s: signal/abort status %s' % (what, rc))
        elif SAN.search(err):
            problems.append('%s: sanitizer report' % what)
        elif rc not in (0, 1, 2):
            problems.append('%s: exit status %s' % (what, rc))
        elif rc == 1:
            loc = check_location(path, text, err)
            if loc:
                problems.append('%s: %s' % (what, loc))
        elif rc == 2 and not defs:
            problems.append('%s: usage error without -D' % what)
        elif rc == 0 and what == 'check' and 'trainable parameters:' not in out:
            problems.append('check: exit 0 without the parameter count')
    judge(rc, out, err, cmd, 'check')
    outcome = rc
    if rc == 0 and not problems:
        odir = os.path.join(work, 'out')
        infer = rng.random() < 0.25
        ecmd = [args.hsicc, 'emit', path, '-o', odir] + defs
        # one --batch at most: an option given twice is a usage error
        for opt in (['--backend', 'ref'], ['--no-fuse'], ['--no-rewrite'],
                    ['--batch', rng.choice(['1', '3'])], ['--infer']):
            if (opt == ['--infer'] and infer) or (opt != ['--infer'] and rng.random() < 0.2):
                ecmd += opt
        params = params_of(text)
        if params and rng.random() < 0.2:   # two domains, the second with other values
            p = rng.choice(params)
            ecmd += ['--domain', 'a', '--domain', 'b:%s=%s' % (p, rng.choice(['1', '2', '3', '5']))]
        rc2, out2, err2 = run(ecmd, args.timeout, args.mem_mb)
        judge(rc2, out2, err2, ' '.join(ecmd), 'emit')
        files = sorted(os.listdir(odir)) if os.path.isdir(odir) else []
        want = ['hsirt', 'n_infer.c', 'n_infer.h'] if infer else ['n.c', 'n.h']
        if rc2 == 0:
            if files != want:
                problems.append('emit: exit 0 with files %s' % files)
            elif args.cc_check:
                inc = os.path.join(odir, 'hsirt') if infer else args.include
                cc = [args.cc_check, '-std=c11', '-c', '-o', '/dev/null', '-Wall', '-Werror', '-pedantic',
                      '-I', inc,
                      '-I', odir, os.path.join(odir, want[1] if infer else want[0])]
                rc3, out3, err3 = run(cc, 120, 0)
                if rc3 != 0:
                    problems.append('emit: the C does not compile: ' + err3[:400])
            if args.onnx and not problems:
                onnx_stage(args, path, defs, ecmd, odir, want[1] if infer else want[0], problems)
        elif files:
            problems.append('emit: exit %s left files %s' % (rc2, files))
        err += '\n--- %s (%s) ---\n%s%s' % (' '.join(ecmd), rc2, out2[-2000:], err2)
    if args.log:
        first = next((l for l in err.splitlines() if 'error' in l), '')
        with open(args.log, 'a') as f:
            f.write('%s\t%s\t%s\n' % (outcome, work, first[:300]))
    if problems:
        with open(os.path.join(work, 'cmd'), 'w') as f:
            f.write(cmd + '\n' + 'seed file: ' + src_path + '\n' + '\n'.join(problems) + '\n')
        with open(os.path.join(work, 'stderr'), 'w') as f:
            f.write(err)
        os.rename(work, os.path.join(args.out, 'fail-%d' % n))
    elif not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return n, outcome, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--hsicc', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--count', type=int, default=1000)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('-j', type=int, default=2)
    ap.add_argument('--timeout', type=float, default=10)
    ap.add_argument('--mem-mb', type=int, default=0)
    ap.add_argument('--cc-check', default='')
    ap.add_argument('--onnx', action='store_true',
                    help='also hsicc onnx on weights of the right shapes, checked by onnx.checker '
                         '(needs numpy and onnx: /usr/bin/python3)')
    ap.add_argument('--keep', action='store_true', help='keep every case folder')
    ap.add_argument('--log', default='', help='a line per case: status, folder, first error')
    ap.add_argument('--include', default=os.path.join(ROOT, 'runtime', 'include'))
    args = ap.parse_args()
    args.hsicc = os.path.abspath(args.hsicc)
    os.makedirs(args.out, exist_ok=True)
    args.out = os.path.abspath(args.out)
    seeds = load_seeds()
    # the seeds that compile as they are: most mutants start from one of them
    args.good = set(p for p, t in seeds
                    if run([args.hsicc, 'check', p], args.timeout, args.mem_mb)[0] == 0)
    tally = {}
    fails = 0
    with ThreadPoolExecutor(args.j) as ex:
        futs = [ex.submit(one_case, args, n, seeds, args.seed * 1000003 + n)
                for n in range(args.count)]
        for f in futs:
            n, outcome, problems = f.result()
            tally[outcome] = tally.get(outcome, 0) + 1
            if problems:
                fails += 1
                print('FAIL %d: %s' % (n, '; '.join(problems)), flush=True)
    print('%d cases from %d seeds: %s; %d failures' % (
        args.count, len(seeds), ', '.join('exit %s: %d' % kv for kv in sorted(tally.items(), key=str)),
        fails))
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
