"""``python -m analysis finetune CORPUS --steps N --save-every K --out DIR``: domain-adaptive masked-LM fine-tuning.

Rerunning the same command resumes from the latest complete checkpoint in ``--out``. Ctrl-C (SIGINT) or SIGTERM stops
cleanly after the current step and saves a checkpoint there (exit status 130); a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import signal
import sys
import threading
import time


def add_arguments(p) -> None:
    p.add_argument("corpus", help="corpus file (CSV/TSV/JSONL/Parquet/TXT, as on the Corpus page) or a corpus index (all its texts are read)")
    p.add_argument("--model", default=None, help="model folder or cached hub id (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--steps", type=int, required=True, help="number of training steps")
    p.add_argument("--save-every", type=int, required=True, help="save a checkpoint every K steps")
    p.add_argument("--out", required=True, help="run folder for checkpoints, log.jsonl and progress.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5, help="peak learning rate (default 5e-5)")
    p.add_argument("--max-length", type=int, default=None,
                   help="tokens per sequence (default: 128 or the model's maximum if smaller)")
    p.add_argument("--whole-word-mask", action="store_true", help="mask whole words instead of single word pieces")
    p.add_argument("--text-column", default=None, help="column holding the text (default: 'text')")
    p.add_argument("--eval-fraction", type=float, default=0.1, help="share of texts held out (default 0.1)")
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="auto = fp32; bf16/fp16 autocast only on CUDA, faster for large models/batches")


def _fmt_eta(seconds) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def progress_line(p: dict) -> str:
    """One line for a run's progress dict (``progress.json``): step, losses, speed and time left."""
    parts = [f"step {p['step']}/{p['total_steps']}"]
    if p.get("train_loss") is not None:
        parts.append(f"train loss {p['train_loss']:.4f}")
    if p.get("eval_loss") is not None:
        parts.append(f"held-out loss {p['eval_loss']:.4f}")
    if p.get("steps_per_second"):
        parts.append(f"{p['steps_per_second']:.2f} steps/s, eta {_fmt_eta(p.get('eta_s'))}")
    return "  ".join(parts)


class _Printer:
    """Prints new notices at once and a progress line (redrawn in place on a terminal, else every few seconds)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.n_messages = 0
        self.last_line = 0.0
        self.last_step = None
        self.open_line = False

    def line(self, text: str) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, p: dict) -> None:
        for msg in p.get("messages", [])[self.n_messages:]:
            self.line(f"note: {msg}")
        self.n_messages = len(p.get("messages", []))
        now = time.monotonic()
        final = p["status"] != "running"
        if p["step"] == self.last_step and not final:
            return
        if not (self.tty or final or now - self.last_line >= 5 or p["step"] == 0):
            return
        self.last_line, self.last_step = now, p["step"]
        text = progress_line(p)
        if self.tty and not final:
            self.stream.write("\r" + text.ljust(100))
            self.stream.flush()
            self.open_line = True
        else:
            self.line(text)


def run(args) -> int:
    from analysis.cli._common import prepare_out_dir
    from analysis.corpus import ColumnSpec
    from analysis.corpus_index.select import load_documents as load_corpus
    from analysis.finetune import FinetuneConfig, finetune

    prepare_out_dir(args.out, create=False)  # the run folder: created (or resumed) by finetune()
    config = FinetuneConfig(model=args.model, steps=args.steps, save_every=args.save_every, seed=args.seed,
                            batch_size=args.batch_size, lr=args.lr, max_length=args.max_length,
                            whole_word_mask=args.whole_word_mask, eval_fraction=args.eval_fraction,
                            warmup_ratio=args.warmup_ratio, device=args.device, precision=args.precision)
    docs = load_corpus(args.corpus, ColumnSpec(text=args.text_column))
    texts = docs["text"].tolist()
    printer = _Printer()
    printer.line(f"fine-tuning {args.model or 'all-MiniLM-L6-v2 (default)'} on {len(texts)} texts from "
                 f"{args.corpus} for {args.steps} steps -> {args.out}")
    stop = threading.Event()

    def request_stop(signum, frame):
        # First Ctrl-C / SIGTERM: finish the current step, save a checkpoint there, exit (resumable). Second: abort.
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        printer.line("stopping after the current step (press Ctrl-C again to abort at once)")

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, request_stop)
    try:
        res = finetune(texts, args.out, config, stop_event=stop, on_progress=printer)
    except KeyboardInterrupt:
        printer.line("interrupted: run the same command again to resume from the latest checkpoint")
        return 130
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)
    ckpts = ", ".join(f"{c.step}: {c.eval_loss:.4f}" for c in res.checkpoints if c.eval_loss is not None)
    printer.line(f"{res.status} after step {res.step} of {res.total_steps} on {res.device}; "
                 f"{res.n_train_texts} training / {res.n_eval_texts} held-out texts; held-out loss by step: {ckpts}")
    printer.line(f"checkpoints in {res.out_dir} (checkpoint-0 is the base model)")
    if res.status == "stopped":
        printer.line("stopped: run the same command again to resume")
        return 130
    return 0


COMMANDS = {"finetune": ("continue masked-LM training of a model on a corpus, saving checkpoints (resumable)",
                         add_arguments, run)}
