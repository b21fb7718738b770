# %% [markdown]
# # 00 · The tiny world and its base model
#
# Every notebook in sftkit fine-tunes a model and measures the result **exactly**. That needs two things real
# data sets do not give us on a laptop: tasks whose right answer a program can check, and a base model small
# enough to train in seconds that *knows* the world but has *not* learned to follow instructions.
#
# **What you will learn**
# - the ten skills of the tiny world, its splits, and the four *shifts* that each move one thing away
#   from the training data (wording, length, magnitude, composition);
# - how the prose pretraining corpus differs from instruction data;
# - how the character-level tokenizer and its chat template turn a conversation into tokens;
# - how the embedded base model was pretrained, and what it does when you ask it something (zero-shot);
# - how to swap in a real Hugging Face model.
#
# **Runtime:** about 1 minute on 2 CPU cores (no training; one batched evaluation of the
# 1,120 test and shift prompts). On a GPU,
# seconds.

# %% tags=["parameters"]
# Parameters (papermill can override these). MODEL_NAME: "tiny" (embedded), a local path, or a Hub id.
MODEL_NAME = "tiny"
DEVICE = None  # None: CUDA, else Apple's mps, else CPU

# %% [markdown]
# **Is this machine ready?** The check below prints the versions, CPU cores, the device sftkit will use (`DEVICE = None`: CUDA, else Apple's mps, else the CPU), free memory, where your results will be written, and the minutes each notebook should take here. A WARNING line names anything that will not work. (`sftkit doctor` in a terminal prints the same.)

# %%
from sftkit.doctor import check_environment

report = check_environment()

# %%
import json
import random
from collections import Counter

import matplotlib.pyplot as plt
from IPython.display import HTML, Markdown, display

# %matplotlib inline

from sftkit import results, world
from sftkit.data import load_world, tokenize_conversation
from sftkit.experiment import run_base
from sftkit.io import WORLD_DIR
from sftkit.model import TINY_BASE, count_parameters, load_model
from sftkit.plots import mask_html, samples_html, split_bars

splits = {s: load_world(s) for s in world.SPLITS}

# %% [markdown]
# ## The skills
#
# Each skill samples an input, phrases an instruction, and computes the gold answer with a few lines of
# Python. The checker is exact match after trimming whitespace: no partial credit, no judge model.

# %%
# NBVAL_CHECK_OUTPUT
rows = ["| skill | what it asks | a train example | answer | shifted in | a shifted example | answer |", "|---|---|---|---|---|---|---|"]
for name, skill in world.SKILLS.items():
    tr = next(r for r in splits["train"] if r["skill"] == name)
    shift = (skill.shifts or ("wording",))[0]
    sh = next(r for r in splits[shift] if r["skill"] == name)
    rows.append(f"| `{name}` | {skill.description} | {tr['messages'][0]['content']} | `{tr['answer']}` "
                f"| {', '.join(('wording', *skill.shifts))} | {sh['messages'][0]['content']} | `{sh['answer']}` |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# A record is a Hugging Face conversational example plus what the checker needs. This is the format every
# sftkit function takes, and the format `sftkit train` reads from JSONL:

# %%
# NBVAL_CHECK_OUTPUT
print(json.dumps(splits["test"][0], indent=1))

# %% [markdown]
# ## The splits, and what "held out" means
#
# - `train` is what SFT sees. `dev` is for choosing things (nobody tunes on `test`).
# - `test` has the **same kind** of inputs as train but **none of the same inputs**: no evaluated word,
#   digit list, number pair, sentence or fact question appears in train, and no evaluated input appears in
#   the pretraining prose either.
# - Four **shift** splits each move *one* thing away from the training data, so a method's generalisation
#   can be read one cause at a time:
#
#   | shift | what moves | skills |
#   |---|---|---|
#   | `wording` | an instruction phrasing no training example uses; the inputs are like `test`'s | all ten |
#   | `longer` | 7-8 letter words and 6-7 digit lists (train: 3-6 letters, 3-5 digits) | reverse, uppercase, length, spell, sort, max |
#   | `larger` | sums of numbers 20-49 (train: 0-19), code constants 100-999 (train: 1-99) | add, code |
#   | `composed` | negated sentences ("the tea was **not** kind"), two-operation code ("(x + 3) * 2") | sentiment, code |
#
#   The base model *read* prose about longer, larger and composed inputs in pretraining (never the
#   evaluated ones); the SFT data never shows them. So each shift asks whether what fine-tuning teaches on
#   narrow data carries over to what the base model already knew, which is what the later methods claim to
#   do better. (Until sftkit 0.3 there was one `hard` split that moved all of these at once and every
#   method scored near zero on it; the shifts, and the re-pretrained base model below, replace it.)

# %%
# NBVAL_CHECK_OUTPUT
for s, recs in splits.items():
    print(f"{s:8s} {len(recs):5d} records  " + " ".join(f"{k}={v}" for k, v in Counter(r['skill'] for r in recs).items()))
train_words = {r["meta"]["word"] for r in splits["train"] if "word" in r["meta"]}
test_words = {r["meta"]["word"] for r in splits["test"] if "word" in r["meta"]}
print("test words that also occur in train:", len(train_words & test_words))

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3))
for split in ("train", "test", "longer", "larger"):
    lengths = [len(r["meta"]["word"]) for r in splits[split] if "word" in r["meta"]]
    sums = [r["meta"]["a"] + r["meta"]["b"] for r in splits[split] if r["skill"] == "add"]
    lists = [len(r["meta"]["numbers"]) for r in splits[split] if "numbers" in r["meta"]]
    for ax, values, bins in [(axes[0], lengths, range(2, 10)), (axes[1], sums, range(0, 100, 4)), (axes[2], lists, range(2, 9))]:
        if values:
            ax.hist(values, bins=bins, density=True, alpha=0.5, label=split)
axes[0].set(title="word length (string skills)", xlabel="letters", ylabel="share of the split's inputs")
axes[1].set(title="sum (add)", xlabel="a + b")
axes[2].set(title="list length (sort, max)", xlabel="digits")
for ax in axes:
    ax.legend()
plt.tight_layout()

# %% [markdown]
# ## The fictional land of Veloria
#
# Forty towns, each with an animal, a colour and a ruler. The base model reads these facts in its pretraining
# prose; SFT then teaches it to *answer questions* about them. The train split asks about 60 of the 120
# facts, `dev` about 20 others and `test` about 40 more, so answering them needs knowledge from pretraining, not from SFT.

# %%
# NBVAL_CHECK_OUTPUT
land = json.loads((WORLD_DIR / "land.json").read_text())
display(Markdown("| town | animal | colour | ruler |\n|---|---|---|---|\n" + "\n".join(
    f"| {t} | {a['animal']} | {a['colour']} | {a['ruler']} |" for t, a in list(land.items())[:8])))

# %% [markdown]
# ## The pretraining corpus: prose, not instructions
#
# Real base models are pretrained on documents, then taught to follow instructions by SFT. The tiny world
# copies that: `corpus.txt` states the same skills as plain sentences ("emrfly loudly is EMRFLY.", "Bumini
# has the colour violet.") on freshly drawn inputs, with no chat format anywhere.

# %%
# NBVAL_CHECK_OUTPUT
corpus = (WORLD_DIR / "corpus.txt").read_text().splitlines()
print(f"{len(corpus)} documents, {sum(map(len, corpus)):,} characters")
print(corpus[0][:300])

# %% [markdown]
# ## Tokenizer and chat template
#
# The tokenizer is character level (one token per character, plus five special tokens), saved as a normal
# `PreTrainedTokenizerFast`, so `AutoTokenizer.from_pretrained("data/models/tiny-base")` and
# `apply_chat_template` work as for any Hub model. Green tokens below are the ones SFT trains on (the
# answer and its end token); grey ones are context.

# %%
# NBVAL_CHECK_OUTPUT
tokenizer = load_model(MODEL_NAME, tokenizer_only=True)
print("vocabulary:", len(tokenizer), "tokens; eos:", tokenizer.eos_token, "; pad:", tokenizer.pad_token)
print("chat template:", tokenizer.chat_template)
example = tokenize_conversation(tokenizer, splits["train"][0]["messages"])
display(HTML(mask_html(tokenizer, example)))

# %% [markdown]
# ## The embedded base model
#
# A Llama-style decoder (4 layers, hidden size 192, 6 heads, rotary positions, tied embeddings) pretrained
# with `sftkit pretrain` on the corpus above: a seeded plain PyTorch loop over batches of 32 random
# 128-character windows (the cell below prints how many steps, how long and on what device; it was built on
# a GPU with `sftkit pretrain --device cuda`, since the 2 CPU cores would need over an hour). Its model card is `data/models/tiny-base/README.md`; the curve below is read from
# the log saved with the model.

# %%
log = json.loads((TINY_BASE / "pretrain_log.json").read_text())
model, tokenizer = load_model(MODEL_NAME, device=DEVICE)
print(f"{count_parameters(model):,} parameters; pretrained {log['steps']} steps in {log['seconds'] / 60:.1f} min "
      f"on {log.get('device', 'cpu')}; final loss {log['loss'][-1]:.3f} nats/char")
plt.figure(figsize=(6, 3))
plt.plot(log["step"], log["loss"])
plt.yscale("log"); plt.xlabel("step"); plt.ylabel("loss (nats per character)"); plt.title("pretraining")
plt.tight_layout()

# %% [markdown]
# ### It knows the world...
#
# Give it the start of a prose sentence and it completes it (greedy decoding, no chat template):

# %%
import torch

town = next(iter(land))
for prefix in [f"The ruler of {town} is", "In capitals, fidor is", "7 plus 5 is", "Sorted, 8 2 5 is",
               "31 plus 24 is", "The mood of 'the tea was not kind' is"]:
    ids = tokenizer(prefix, return_tensors="pt", add_special_tokens=False).to(model.device)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    print(f"{prefix!r:32} -> {tokenizer.decode(out[0, ids['input_ids'].shape[1]:], skip_special_tokens=True)!r}")
print("gold ruler:", land[town]["ruler"])

# %% [markdown]
# ### ...but it does not follow instructions
#
# Now ask the same things in chat format, as every later notebook will. `run_base` evaluates the untrained
# model on `test` and every shift with the same batched greedy harness used after fine-tuning.

# %%
base = run_base(MODEL_NAME, device=DEVICE)
split_bars({"base (zero-shot)": base.rows}, title="zero-shot exact match of the base model")
plt.show()
overall = {r["split"]: r["accuracy"] for r in base.rows if r["skill"] == "all"}
print("zero-shot exact match: " + ", ".join(f"{s} {100 * overall[s]:.1f}%" for s in world.EVAL_SPLITS))

# %%
display(HTML(samples_html({"base model": base.predictions[0]}, ids=[r["id"] for r in splits["test"][::49]])))

# %% [markdown]
# ### Explore
#
# Pick a skill and an example to see the prompt, the gold answer and what the base model says.

# %%
import ipywidgets as widgets

by_skill = {}
for r in base.predictions[0]:
    by_skill.setdefault((r["split"], r["skill"]), []).append(r)


def show(split, skill, i):
    rows = by_skill[(split, skill)]
    r = rows[min(i, len(rows) - 1)]
    print(f"prompt : {r['prompt']}\ngold   : {r['answer']}\nmodel  : {r['prediction']!r}\ncorrect: {r['correct']}")


widgets.interact(show, split=list(world.EVAL_SPLITS), skill=list(world.SKILLS), i=widgets.IntSlider(0, 0, 49));

# %% [markdown]
# *Reading without running?* The explorer above needs a live kernel (a notebook opened from a fresh clone, or on a code host, shows one line of text in its place). Below is its first view as a plain output; run the notebook to explore.

# %%
show(list(world.EVAL_SPLITS)[0], list(world.SKILLS)[0], 0)  # the explorer's first view

# %% [markdown]
# ## Swapping in a real model
#
# Set `MODEL_NAME` in the parameters cell to a local path or a Hub id of any causal LM with a chat template
# (for example `"Qwen/Qwen2.5-0.5B-Instruct"`) and `DEVICE = "cuda"`. Nothing else changes:
# `load_model` picks bf16 on CUDA, the answer-only labels come from the model's own template, and
# generation and scoring are the same. Expect a real instruct model to score far above zero here: the point
# of the tiny base model is that it does *not* already follow instructions. (This machine cannot reach a
# model hub, so the committed outputs use the embedded model.)

# %%
path = results.save("00_world", base.rows)
print("saved", path.name)

# %% [markdown]
# ## What we saw
#
# - Ten skills; `test` and four shifts that each move one thing (wording, length, magnitude, composition);
#   evaluated inputs never occur in train or in the pretraining prose.
# - The base model continues prose about the world, but asked in chat format it scores the zero-shot exact
#   match printed above, essentially nothing: it has never seen an instruction.
# - Notebook 01 teaches it to follow instructions with plain SFT.
#

# %% [markdown]
# ## Exercises
#
# Each exercise has a hint and a worked solution (click to open).
#
# **1.** Add a skill to `sftkit/world/skills.py` (say, "last letter of a word"): a sampler, an answer, two
# instruction phrasings, one unseen phrasing for the `wording` shift, a prose sentence, and the realistic mistakes a
# small model makes on it (the wrong answers preference pairs use). Run `sftkit data` and check that the
# tests still pass.
#
# <details><summary>Hint</summary>
#
# A skill is one `Skill(...)` entry in the `SKILLS` list: copy the entry of a string skill such as `length`,
# reuse `_word_input` as the sampler and `_pick` for the phrasings, and give `mistakes` a list of plausible
# wrong answers. `sftkit data` rewrites `data/world/` (splits and corpus) from the seed, so work in a copy of
# the repository (or restore `data/world/` afterwards): the committed base model was pretrained on the old
# corpus and has never read a sentence about the new skill.
# </details>
#
# <details><summary>Solution</summary>
#
# Add this entry to the `SKILLS` list in `sftkit/world/skills.py`:
#
# ```python
#     Skill("last", "give the last letter of a word", _word_input, lambda m: m["word"][-1],
#           lambda r, m, s: _pick(r, ["What is the last letter of {w}?", "Last letter of {w}?"], s,
#                                 ["Which letter does {w} end with?"]).format(w=m["word"]),
#           lambda r, m: r.choice(["The last letter of {w} is {a}.", "{w} ends with {a}."]).format(
#               w=m["word"], a=m["word"][-1]),
#           lambda m, a, r: [m["word"][0], m["word"][-2], m["word"]]),
# ```
#
# then, in the copy of the repository:
#
# ```bash
# sftkit data                      # new splits and corpus, now with "last"
# pytest -q tests                  # the world's invariants (no evaluated input in train or the corpus, ...)
# sftkit pretrain                  # only if the base model should know the new skill from prose
# ```
#
# The mistakes are what a small model plausibly says: the first letter, the second-to-last, or the word
# copied back. Notebook outputs that list the skills (this notebook's tables and split counts) change with
# it.
# </details>
#
# **2.** Use `world.compose("reverse", "uppercase", "abc")` to build a small two-skill test set. Do you expect a
# model trained on single skills to solve it?
#
# <details><summary>Hint</summary>
#
# `compose` returns a record in the usual format, but the checker (`world.check`, used by `evaluate`) only
# knows the single skills: answer the prompts with `sftkit.evaluate.generate` and compare with
# `world.normalize` yourself. Draw words the way the string skills do, and look at the instruction it writes: is that
# wording in any training example?
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# import random
# from sftkit.evaluate import generate
#
# rng = random.Random(0)
# pairs = [("reverse", "uppercase"), ("uppercase", "reverse"), ("reverse", "spell")]
# composed = [world.compose(a, b, "".join(rng.choice("abcdefghij") for _ in range(rng.randint(3, 6))))
#             for a, b in pairs for _ in range(10)]
# print(composed[0]["messages"][0]["content"], "->", composed[0]["answer"])
# answers = generate(model, tokenizer, [r["messages"][:1] for r in composed])  # here the base model; in 01, the SFT model
# for a, b in pairs:
#     hits = [world.normalize(p) == world.normalize(r["answer"]) for r, p in zip(composed, answers) if r["skill"] == f"{a}+{b}"]
#     print(f"{a}+{b}: {sum(hits)} of {len(hits)} exactly right")
# ```
#
# What to expect, and why: the instruction ("Write a word backwards, then write a word in capital letters:
# ...") uses the skills' *descriptions*, a wording no training example has, and the answer needs two
# operations in sequence, which no training example shows. SFT on single skills teaches each operation in its
# own wording, so there is no reason to expect it to compose them; a model that does is generalising beyond
# its data. Run it on the SFT model of notebook 01 to see.
# </details>
#
# **3.** Prompt the base model with prose prefixes for each skill. Which skills does it already "know" before SFT?
#
# <details><summary>Hint</summary>
#
# Each skill's `prose` function (in `sftkit/world/skills.py`) shows the sentences of the corpus. Cut a prose
# sentence just before its answer, let the model continue greedily as in the cell above, and check the
# continuation with the skill's own `answer` function, on inputs from the `test` split (never in the corpus).
# </details>
#
# <details><summary>Solution</summary>
#
# ```python
# PREFIX = {  # the corpus's sentences, cut before the answer
#     "reverse": "{word} backwards is", "uppercase": "In capitals, {word} is", "length": "The word {word} has",
#     "spell": "Letter by letter, {word} is", "add": "{a} plus {b} is", "sort": "Sorted, {nums} is",
#     "max": "The largest of {nums} is", "facts": "The {attribute} of {town} is",
#     "sentiment": "'{sentence}' is a", "code": "To get {words} in Python write",
# }
# known = {}
# for skill, template in PREFIX.items():
#     recs = [r for r in splits["test"] if r["skill"] == skill][:20]
#     hits = 0
#     for r in recs:
#         m = r["meta"]
#         prefix = template.format(nums=" ".join(map(str, m.get("numbers", []))),
#                                  words=world.skills._expr_words(m.get("expr", "")), **m)
#         ids = tokenizer(prefix, return_tensors="pt", add_special_tokens=False).to(model.device)
#         out = model.generate(**ids, max_new_tokens=24, do_sample=False, pad_token_id=tokenizer.pad_token_id)
#         text = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
#         cont, ans = text.strip(), r["answer"]
#         hits += cont.startswith(ans) and (len(cont) == len(ans) or not cont[len(ans)].isalnum())
#     known[skill] = hits / len(recs)
#     print(f"{skill:10s} {100 * known[skill]:.0f}% of {len(recs)} test inputs completed correctly")
# ```
#
# What to look for: the skills whose prose completion is right are the ones the model "knows"; compare with
# its zero-shot exact match above, where the same knowledge is asked for in chat format. The gap between the
# two is what SFT has to close. (The check accepts a continuation that starts with the answer as a whole
# word, since prose goes on after it; print a few continuations before trusting a row.)
# </details>
