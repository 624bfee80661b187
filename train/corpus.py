#!/usr/bin/env python3
"""corpus.py OUT_DIR — the English corpus the project's own models are trained on, from Debian
packages (install them with
`apt-get install fortunes manpages manpages-dev groff-base perl-doc python3.11-doc`):

  fortunes  Debian's `fortunes` package (fortune-mod's data files; BSD licence, see
            /usr/share/doc/fortunes/copyright): quips, quotations, jokes, short stories.
  manuals   technical documentation: Debian's `manpages` and `manpages-dev` (the Linux
            man-pages project; free licences, see /usr/share/doc/manpages/copyright), every
            English page rendered to plain text by groff at 80 columns; `perl-doc` (Perl's
            manual, Artistic or GPL), each .pod rendered by pod2text; `python3.11-doc` (the
            Python documentation, PSF licence), its reStructuredText sources as they are.

Two styles on purpose: the LoRA issue trains an adapter toward one and measures it on both.

Writes, deterministically (files sorted bytewise, every 20th document held out):
  OUT/train.txt                 training documents of both styles, separated by a form feed line
  OUT/heldout-fortunes.txt      held-out fortunes, blank-line separated (for `doppler perplexity`),
                                the first HOLDOUT_MAX characters' worth of documents
  OUT/heldout-manuals.txt       held-out documentation, likewise
  OUT/sources.txt               package versions the text came from
"""
import glob, gzip, os, re, subprocess, sys

HOLDOUT_EVERY = 20
HOLDOUT_MAX = 200_000


def package_files(*pkgs):
    out = subprocess.run(["dpkg", "-L", *pkgs], capture_output=True, text=True, check=True).stdout.split("\n")
    return sorted(f for f in out if os.path.isfile(f) and not os.path.islink(f))


def fortunes():
    docs = []
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if path.endswith((".dat", ".u8")) or os.path.islink(path) or not os.path.isfile(path):
            continue
        text = open(path, "rb").read().decode("utf-8", "replace")
        for d in re.split(r"\n%\n", text):
            d = d.strip("\n")
            if d.strip() and len(d) < 4000:
                docs.append(d)
    return docs


def manuals():
    pages = [f for f in package_files("manpages", "manpages-dev") if re.match(r"/usr/share/man/man\d/[^/]+\.gz$", f)]
    docs = []
    env = dict(os.environ, LC_ALL="C.UTF-8")
    for f in pages:
        src = gzip.open(f).read()
        if src.startswith(b".so "):  # an alias page
            continue
        r = subprocess.run(["groff", "-mandoc", "-Tutf8", "-rLL=80n", "-rHY=0", "-P-cbou", "-t"], input=src, capture_output=True, env=env)
        text = r.stdout.decode("utf-8", "replace")
        text = re.sub(r"[\u2010\u2011\u2012]", "-", text)
        text = re.sub(r"(?<=\S) {2,}(?=\S)", " ", text)  # undo justification
        text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
        lines = text.split("\n")
        if len(lines) > 2:  # drop groff's header and footer lines
            text = "\n".join(lines[1:-1]).strip("\n")
        if len(text) > 200:
            docs.append(text)
    for f in package_files("perl-doc"):
        if f.endswith(".pod"):
            text = subprocess.run(["pod2text", "-w", "80", f], capture_output=True, env=env).stdout.decode("utf-8", "replace")
            if len(text) > 200:
                docs.append(text.strip("\n"))
    for f in package_files("python3.11-doc"):
        if re.search(r"/_sources/.*\.rst\.txt$", f):
            text = open(f, "rb").read().decode("utf-8", "replace").strip("\n")
            if len(text) > 200:
                docs.append(text)
    return docs


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    train = []
    for name, docs in (("fortunes", fortunes()), ("manuals", manuals())):
        held = [d for i, d in enumerate(docs) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
        kept, size = [], 0
        for d in held:
            if size >= HOLDOUT_MAX:
                break
            kept.append(d)
            size += len(d)
        train += [d for i, d in enumerate(docs) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
        with open(os.path.join(out, f"heldout-{name}.txt"), "w", encoding="utf-8") as f:
            f.write("\n\n".join(kept) + "\n")
        print(f"{name}: {len(docs)} documents, {sum(map(len, docs))} characters, {len(held)} held out, {len(kept)} in the held-out file")
    with open(os.path.join(out, "train.txt"), "w", encoding="utf-8") as f:
        f.write("\n\f\n".join(train) + "\n")
    vers = subprocess.run(["dpkg-query", "-W", "fortunes", "manpages", "manpages-dev", "groff-base", "perl-doc", "python3.11-doc"], capture_output=True, text=True).stdout
    open(os.path.join(out, "sources.txt"), "w").write(vers)


if __name__ == "__main__":
    main()
