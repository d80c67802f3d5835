"""man_check.py SRC HSICC HSI_FETCH KEYS_TOOL: the man pages render without a warning (groff -ww, and
man -l when man-db is there) and say what the programs know:
  hsicc.1      every command of `hsicc --help` and every option of each `hsicc CMD --help`;
  hsi-fetch.1  every option of `hsi-fetch --help`;
  hsicc-netdef.5      every layer, layer argument and loss of the elaborator (compiler/sema_*.c);
  hsicc-experiment.5  every key and enumerated value of the experiment schema (the loader's
                      list: test_train_config_doc --list).
A layer, option or key added without its line in the man page fails here, naming it."""
import os
import re
import shutil
import subprocess
import sys

src, hsicc, fetch, keys_tool = sys.argv[1:5]
man = os.path.join(src, "man")
bad = []


def text_of(page):
    """The page's words: roff escapes for '-' and fonts undone, quotes dropped."""
    t = open(os.path.join(man, page), encoding="ascii").read()
    t = t.replace("\\-", "-").replace("\\ ", " ").replace("\\&", "")
    t = re.sub(r"\\f[BIRP]", "", t)
    return t.replace('"', " ")


def has(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def render(page):
    path = os.path.join(man, page)
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", path], capture_output=True, text=True)
    if r.returncode or r.stderr:
        bad.append(f"{page}: groff -ww: status {r.returncode}: {r.stderr.strip()}")
    if shutil.which("man"):
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True, env=env)
        if r.returncode or r.stderr or "NAME" not in r.stdout:
            bad.append(f"{page}: man -l: status {r.returncode}: {r.stderr.strip()}")


def options(help_text):
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text))


def help_of(*argv):
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if r.returncode:
        bad.append(f"{' '.join(argv)}: status {r.returncode}")
    return r.stdout


pages = sorted(p for p in os.listdir(man) if re.search(r"\.[15]$", p))
for p in ["hsicc.1", "hsi-fetch.1", "hsicc-netdef.5", "hsicc-experiment.5"]:
    if p not in pages:
        bad.append(f"{p}: missing from man/")
version = subprocess.run([hsicc, "--version"], capture_output=True, text=True).stdout.split()[-1]
for p in pages:
    render(p)
    if f'"hsicc {version}"' not in open(os.path.join(man, p), encoding="ascii").read():
        bad.append(f"{p}: its .TH line does not say hsicc {version} (hsicc --version)")

# hsicc(1): commands and options
t = text_of("hsicc.1")
top = help_of(hsicc, "--help")
cmds = re.findall(r"^  (\w+)\s", top, re.M)
if len(cmds) < 5:
    bad.append(f"hsicc --help lists {len(cmds)} commands: parse error?")
for o in options(top) - {"--help"} | {"--help", "--version"}:
    if not has(t, o):
        bad.append(f"hsicc.1: option {o} of `hsicc --help` is not described")
for c in cmds:
    if not re.search(r"^\.B hsicc " + c + r"\b", t, re.M) or not re.search(r"^\.B " + c + "$", t, re.M):
        bad.append(f"hsicc.1: command {c} has no synopsis line or no entry under COMMANDS")
    h = help_of(hsicc, c, "--help")
    if f"usage: hsicc {c} " not in h:
        bad.append(f"hsicc {c} --help: no usage on stdout")
    for o in options(h):
        if not has(t, o):
            bad.append(f"hsicc.1: option {o} of `hsicc {c} --help` is not described")

# hsi-fetch(1)
t = text_of("hsi-fetch.1")
for o in options(help_of(fetch, "--help")) | {"--list", "--help"}:
    if not has(t, o):
        bad.append(f"hsi-fetch.1: option {o} of `hsi-fetch --help` is not described")

# hsicc-netdef(5): layers, their arguments, losses (the elaborator's tables, compiler/sema_*.c)
import glob
e = "\n".join(open(f).read() for f in sorted(glob.glob(os.path.join(src, "compiler/sema_*.c"))))
specs = re.search(r"\} specs\[K_N\] = \{(.*?)\n\};", e, re.S)
args = re.search(r"arg_names\[A_N\] = \{(.*?)\};", e, re.S)
losses = re.search(r"loss_names\[L_N\] = \{(.*?)\};", e, re.S)
largs = re.search(r"loss_arg_names\[LA_N\] = \{(.*?)\};", e, re.S)
targets = re.search(r"targets\[\] = \{(.*?)\};", e, re.S)
if not (specs and args and losses and largs and targets):
    bad.append("compiler/sema_*.c: the layer, argument or loss table was not found (renamed?)")
else:
    t = text_of("hsicc-netdef.5")
    layers = re.findall(r'\] = \{"(\w+)"', specs.group(1))
    if len(layers) < 10:
        bad.append(f"sema_*.c: {len(layers)} layers parsed: parse error?")
    words = [("layer", w) for w in layers] + [("argument", w) for w in re.findall(r'"(\w+)"', args.group(1))]
    words += [("loss", w) for w in re.findall(r'"(\w+)"', losses.group(1))]
    words += [("loss argument", w) for w in re.findall(r'"(\w+)"', largs.group(1))]
    words += [("loss target", w) for w in re.findall(r'"(\w+)"', targets.group(1))]
    for kind, w in words:
        if not has(t, w):
            bad.append(f"hsicc-netdef.5: {kind} '{w}' (compiler/sema_*.c) is not described")

# hsicc-experiment(5): every key and enumerated value of the schema's tables, as the loader
# lists them (hsi_experiment_each_key, through test_train_config_doc --list)
t = text_of("hsicc-experiment.5")
words = sorted(set(help_of(keys_tool, "--list").split()))
for w in words:
    if w in ("True", "TRUE", "False", "FALSE", "*"):
        continue
    if not has(t, w):
        bad.append(f"hsicc-experiment.5: '{w}' (a key or value of the experiment schema) is not described")
if len(words) < 50:
    bad.append(f"test_train_config_doc --list: {len(words)} keys and values: broken?")

for b in bad:
    print("FAIL:", b)
print(f"man pages: {len(pages)} checked, {len(bad)} problems")
sys.exit(1 if bad else 0)
