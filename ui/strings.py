"""User-facing strings in one place, so wording can change without touching logic."""

TITLE = "PharmaTune"
SUBTITLE = "Fine-tune, evaluate, compare and chat with language models for drug discovery and biomedical work."

EMPTY_MESSAGE = "The message is empty: type a question before sending."
LOADING = ("_Loading {ref} (the first use of the builtin model converts its GGUF once, about 20 s; later loads take "
           "about a second) …_")
ERROR_PREFIX = "⚠️ "
UNEXPECTED = "{ref} failed: {kind}: {detail}"
KEY_HELP = "Kept in this browser session only: never saved to disk, the store or logs. OPENAI_API_KEY works too."

UPCOMING = {}

DATA_INTRO = ("Upload a data set (OpenAI chat JSONL, Alpaca, ShareGPT, prompt/completion, CSV, Parquet) or pick a "
              "bundled one. Validation lists every problem with its line and field before anything runs.")
UPLOAD_LABEL = "Upload a file (up to {limit:.0f} MiB); it is validated at once"
UPLOAD_LABEL_PUBLIC = ("Upload a file (up to {viewer:.3g} MiB for visitors, {limit:.0f} MiB for operators); it is "
                       "validated at once")
UPLOAD_TOO_BIG = "{name} is {size:.1f} MiB; the upload limit is {limit:.0f} MiB (PHARMATUNE_MAX_UPLOAD_MB)."
VIEWER_UPLOAD_TOO_BIG = ("{name} is {size:.1f} MiB; visitors of this public app may upload up to {limit:.3g} MiB "
                         "(PHARMATUNE_VIEWER_UPLOAD_MB), operators up to {operator:.3g} MiB: log in as operator, or "
                         "upload a smaller file.")
UPLOAD_GONE = "{name} is no longer on the server (a refused upload is deleted at once): upload the file again."
NO_DATA_CHOSEN = "Choose a bundled set or upload a file first."
DATA_OK = "✅ Valid."
DATA_INVALID = "❌ Not valid yet: fix the errors below (warnings do not block)."

EVAL_INTRO = ("Evaluate one or more models on YAML benchmarks (evaluation/benchmarks/). Each evaluation is a job: it "
              "keeps running after a page reload, can be cancelled, and lands on the Leaderboard as each model "
              "finishes a benchmark.")
EVAL_NO_MODEL = "Choose at least one model (or type a reference such as dummy:echo and press Enter)."
EVAL_NO_BENCHMARK = "Choose at least one benchmark."
EVAL_BAD_LIMIT = "The limit must be a whole number: 0 runs every item, N runs the first N (got {value})."
EVAL_BAD_BATCH = "The batch size must be a whole number of at least 1 (got {value})."
EVAL_UNKNOWN_BENCHMARK = "{name} is not a benchmark here; known: {known}."
EVAL_UNAVAILABLE = "Not offered here: {reasons}."
EVAL_BAD_VARIANT = "{bench} has no prompt variant {variant!r}; it has {known}."
EVAL_NO_RUN = "Start an evaluation, or pick a recent run to watch."
EVAL_UNKNOWN_RUN = "There is no evaluation run {run_id!r} in the store."
EVAL_RUN_STATUS = {
    "queued": "⏳ Status: **queued**",
    "running": "⏳ Status: **running**",
    "done": "✅ Status: **done**: {results} result(s), now on the Leaderboard tab.",
    "failed": "❌ Status: **failed**: {error}",
    "cancelled": "⏹ Status: **cancelled**: finished (model, benchmark) pairs stay on the leaderboard; the rest was "
                 "discarded.",
}
EVAL_CANCELLED = "Cancelled {run_id}."
EVAL_ALREADY_FINISHED = "{run_id} had already finished ({status}); nothing to cancel."
EVAL_LOADING = "loading the model …"
BOARD_PAIRS_WRITTEN = ("Wrote {summary} to `{path}`. Train on it: Fine-tune tab, task **dpo**, that file as the data "
                       "set (its prompts are the benchmark's own); then evaluate the run on the same benchmark.")
STUDY_ARMS_EXAMPLE = ("task comparison, one arm per line, e.g.:\n- {task: sft}\n- {task: dpo, dataset: pairs.jsonl, "
                      "preference: {beta: 0.1}}\n- {task: grpo, grpo: {rewards: [{metric: smiles_validity}]}}")
FT_SECTION_TITLES = {"preference": "Preference settings (dpo, kto, orpo)",
                     "grpo": "GRPO settings (rewards, answers per prompt, sampling, KL)"}
FT_BAD_YAML = ("{label} ({name}): not a YAML list{where}; write e.g. [{{metric: smiles_validity, weight: 0.5}}, "
               "{{metric: format, weight: 0.2, pattern: '^C'}}].")
EVAL_JUDGE_WARNING = ("the QuestEval score is not evidence: {why}. Use a stronger judge (the judge box) or other "
                      "metrics.")
EVAL_JUDGE_SANE = ("QuestEval judge sanity: a reference judged against itself scores {self:.2f}, against an unrelated "
                   "reference {other:.2f} ({items} references).")
EVAL_CUSTOM_INTRO = ("Turn a file into a benchmark: a plain JSONL or CSV of DDI pairs (drug1, drug2, smiles1, smiles2, "
                     "label) works as it is. Pick the prompt template (or type one with {column} placeholders), map "
                     "template fields to columns if the names differ, name the column that holds the right answer and "
                     "the mode. **Check** shows the first three prompts as the model will see them; **Save** writes it "
                     "as a benchmark YAML in the data folder and adds it to the Benchmarks list.")
EVAL_CUSTOM_NO_DATA = "Upload a file or type a data set (bundled:…, shared:…, or a path the app may read)."
EVAL_CUSTOM_NO_TEMPLATE = "The typed template is empty: write its user turn, with {column} placeholders."
EVAL_CUSTOM_BAD_MODE = "Mode {mode!r} is not one of: {known}."
EVAL_CUSTOM_BAD_FIELDS = ("Template fields: {part!r} is not field=column; write e.g. drug1=name_a, drug2=name_b "
                          "(or leave it empty when the template's fields are the column names).")
EVAL_CUSTOM_NO_NAME = "Give the benchmark a name to save it under (letters, digits, - _ .)."
EVAL_CUSTOM_OK = "{name} is ready ({modes} mode)."
EVAL_CUSTOM_SAVED = "Saved **{name}**: it is chosen in Benchmarks above; press Start evaluation to run it."
EVAL_LEAKAGE_INTRO = ("For each chosen benchmark, its test items against the training set of each chosen run: model "
                      "(else the benchmark data set's own train split): test pairs also in train (same or swapped "
                      "order), shared drugs, and each test molecule's nearest-neighbour Tanimoto similarity to train. "
                      "A high score on items the model trained on is memory, not prediction.")
EVAL_LEAKAGE_NONE = ("**{bench}**: no training set is known for it (its data set {dataset} has no train split, and no "
                     "run: model is chosen), so there is nothing to compare.")
EVAL_LEAKAGE_OWN = "its own train split (what a fine-tune on {dataset} trains on)"
EVAL_LEAKAGE_RUN = "the training set of {model}"

BOARD_INTRO = ("Every evaluation result, one row per model, benchmark and prompt variant; best first (↑ higher is "
               "better, ↓ lower is better). Click a row for its predictions, worst first.")
BOARD_ALL = "all"
BOARD_ANY_METHOD = "any"
BOARD_EMPTY = "The leaderboard is empty: run an evaluation in the Evaluate tab (or `python -m evaluation run`)."
BOARD_NO_ROW = "There is no leaderboard row {row_id}."
BOARD_PICK_TWO = "Choose two rows to compare (A and B), or click a row and press “Compare A with the clicked row”."
BOARD_CLICK_FIRST = "Click a row of the table first."
BOARD_EXPORTED = "Wrote {rows} row(s) to {name}."

FT_INTRO = ("Fine-tune a model on a bundled, shared or uploaded data set: full fine-tuning, LoRA, IA3, BitFit or QLoRA "
            "for chat (SFT), classification, regression or domain-adaptive pretraining. **Check** validates everything "
            "and estimates the steps and time; **Start** runs it as a job that keeps going after a page reload, one "
            "training job at a time per device (the others wait in the queue).")
FT_BAD_NUMBER = "{label} ({name}) must be a number{minimum} (got {value})."
FT_BAD_WHOLE = "{label} ({name}) must be a whole number{minimum} (got {value})."
FT_NO_MODEL = "Base model (base_model) is empty: keep builtin:smollm2-135m-instruct, or type hf:<folder> or run:<id>."
FT_NOT_TRAINABLE = ("Base model (base_model) {ref} cannot be fine-tuned here: use builtin:<name>, hf:<folder> or "
                    "run:<id> (OpenAI models are fine-tuned in the OpenAI tab).")
FT_NO_DATA = "Dataset (dataset) is empty: choose a bundled or shared set, upload a file, or type a file path."
FT_UPLOAD_FAILED = "Dataset upload (dataset): {error}"
FT_UNKNOWN_BENCHMARK = "Evaluate after training (evaluate): {name} is not a benchmark here; known: {known}."
FT_CHECK_OK = "✅ Ready to start."
FT_CHECK_FAILED = "❌ Not ready: {error}"
FT_STEPS = ("**Planned steps: {steps}** ({how}; counted from examples before tokenisation, so very long examples "
            "dropped at max_length can lower it).")
FT_STEPS_MAX = "max_steps"
FT_STEPS_EPOCHS = "{examples} examples ÷ batch {batch} ÷ grad accum {accum} × {epochs:g} epoch(s)"
FT_TIME_MEASURED = ("**Time: about {total}** for the steps, plus model loading. Assumption: {rate:.3g} s per step, "
                    "measured over {steps} steps of `{run}` ({model}, {method}, batch {batch} × grad accum {accum}, "
                    "max_length {length}) on this machine, scaled linearly to {examples_per_step} example(s) per "
                    "step{caveat}.")
FT_TIME_CAVEAT_LENGTH = "; that run used another max_length, so treat this as rough"
FT_TIME_UNKNOWN = ("**Time: unknown until the first steps**: no finished {method} run of {model} on this machine to "
                   "measure from. The job shows a measured ETA after its first logged step.")
FT_TIME_BUILTIN_HINT = (" For reference, a LoRA step of the builtin model at batch 4 × 256 tokens took about 6 s on 2 "
                        "CPU cores (a GPU is much faster).")
FT_STARTED = "Started `{run_id}`."
FT_NO_RUN = "Start a training run, or pick a recent one to watch."
FT_UNKNOWN_RUN = "There is no training run {run_id!r} in the store."
FT_RUN_STATUS = {
    "queued": "⏳ Status: **queued**{position}",
    "running": "🏃 Status: **running**{phase}",
    "done": "✅ Status: **done**: {steps} steps; {trainable}",
    "failed": "❌ Status: **failed**: {error}{resumable}",
    "cancelled": "⏹ Status: **cancelled**{resumable}",
}
FT_QUEUE_POSITION = " (position {position} in the training queue: one training job at a time on this device)"
FT_QUEUE_WAITING = " (waiting for its process to start)"
FT_TRAINABLE = "{params:,} trainable parameters ({percent:g} % of {total:,})"
FT_RESUMABLE = ". Its last checkpoint is step {step}: **Resume** continues from there."
FT_NOT_RESUMABLE = ". No checkpoint was written, so it cannot be resumed (save_every sets how often)."
FT_CANCELLED = "Cancelled {run_id}."
FT_ALREADY_FINISHED = "{run_id} had already finished ({status}); nothing to cancel."
FT_RESUMED = "Resuming {run_id} from checkpoint step {step}."
FT_RESUME_ACTIVE = "{run_id} is still {status}; cancel it first, or wait for it."
FT_RESUME_DONE = "{run_id} finished; there is nothing left to resume (start a new run with more steps)."
FT_RESUME_NO_CHECKPOINT = "{run_id} cannot be resumed: {error}"
FT_EXPORTING = "⏳ Merging the adapter into the base model (this loads the model) …"
FT_EXPORTED = "✅ Merged model: `{path}`"
FT_EXPORT_FAILED = "❌ Export failed: {error}"
FT_EXPORTING_GGUF = "⏳ Writing a {quant} GGUF file (merging the adapter into the base first) …"
FT_EXPORTED_GGUF = ("✅ {summary} An Ollama `Modelfile` lies beside it (`ollama create NAME -f Modelfile`); "
                    "llama.cpp runs the file as it is.")
FT_REFERENCE = ("Use **`{ref}`** in the Chat and Evaluate tabs (and as a base model here, to train on top of this "
                "run).")
FT_REFERENCE_HEAD = ("**`{ref}`** has a {task} head: it predicts a {what} rather than text, so use it in the "
                     "Evaluate tab (the Chat tab needs an sft or pretrain run).")
FT_REFERENCE_LATER = "The reference `{ref}` works in the Chat and Evaluate tabs once the run is done."
FT_EVALUATION_NOTE = ("Benchmarks run on `{ref}` after training; their rows are on the **Leaderboard** tab too (model "
                      "`{ref}`).")
FT_NO_FILES = "The run folder {folder} is gone."

OPENAI_INTRO = ("Check a chat JSONL file the way OpenAI will, count its tokens exactly (offline, with tiktoken) and see "
                "what fine-tuning costs **before you pay**; then launch the job, follow it, and keep a ledger of every "
                "dollar spent on OpenAI (fine-tuning, chat and evaluations). The estimate needs no key.")
OPENAI_KEY_FROM_ENV = "🔑 Using OPENAI_API_KEY from the environment."
OPENAI_KEY_TYPED = "🔑 Using the key typed here (this browser session only)."
OPENAI_KEY_NONE = "No key: estimates work; launching and following jobs need OPENAI_API_KEY or a key typed here."
OPENAI_NO_SOURCE = "Upload a chat JSONL file or type a data set (bundled:ddi-binary, shared:ddi, a path) first."
OPENAI_NO_MODEL = "Choose the model to fine-tune (e.g. gpt-4o-mini-2024-07-18)."
OPENAI_ESTIMATE_FIRST = "Check and estimate a file first: the launch uses exactly the file that was checked."
OPENAI_HAS_ERRORS = "❌ {errors} error(s) below: OpenAI would reject this file. Fix them before launching."
OPENAI_CHECK_OK = "✅ No errors{warnings}."
OPENAI_LAUNCHED = "Created {job_id} ({status}) on {model}; it shows in the jobs table below and refreshes on its own."
OPENAI_NO_JOB = "Pick a job from the list."
OPENAI_NO_JOBS = "No OpenAI jobs yet."
OPENAI_SYNC_FAILED = "Could not refresh {job}: {error}"
OPENAI_CANCELLED = "Cancelled {job_id}."
OPENAI_PRICES_SAVED = "Saved the price table to {path}; estimates use it from now on."
OPENAI_LEDGER_EXPORTED = "Wrote {rows} ledger row(s) to {name}."
OPENAI_WINDDOWN_HEAD = ("### ⏳ OpenAI is winding down self-serve fine-tuning: new jobs close for everyone on "
                        "**{final}** ({left})")
OPENAI_WINDDOWN_LEFT = "**{days} left**"
OPENAI_WINDDOWN_TODAY = "**closes today**"
OPENAI_WINDDOWN_CLOSED = "**closed {days} ago**"
OPENAI_WINDDOWN_FOOT = ("A fine-tuned model keeps answering only until its base model retires. Dates: {source} (read "
                        "{as_of}). {note} They live in the price table at the bottom of this tab. The way off: **Train "
                        "locally instead** (after an estimate) rebuilds the model here from the same file, and models "
                        "trained here answer the `openai` client at `base_url=\"http://127.0.0.1:7860/v1\"`.")
OPENAI_WINDDOWN_NONE = ("The price table in use has no wind-down dates (wind_down); OpenAI's fine-tuning closes for every "
                        "customer on 2027-01-06 (OpenAI's API deprecations page).")
OPENAI_LOCAL_INTRO = ("**Train locally instead** starts the run in the right-hand column: LoRA on `{model}` from the same file, "
                      "the same examples and epochs; it costs nothing and the model stays yours.")
OPENAI_LOCAL_STARTED = ("🚀 Started **`{run_id}`**: watch it in the **Fine-tune** tab (pick it in the run list). When "
                        "it is done, `run:{run_id}` is in the Chat and Evaluate lists; **Compare them** (below) "
                        "evaluates it and the OpenAI model on one benchmark and shows the paired test.")
OPENAI_BOTH_INTRO = ("Both models on the same benchmark items in one evaluation job (OpenAI calls are priced in the "
                     "ledger), then the paired test of the two leaderboard rows: McNemar's exact test for accuracy, a "
                     "paired bootstrap for the other metrics, and in words whether the local model differs.")
OPENAI_BOTH_PICK = "Pick the OpenAI fine-tuned model and the local run to compare."
OPENAI_BOTH_NONE = "Press **Evaluate both** first."
OPENAI_BOTH_STARTED = ("Started `{run_id}`: both models run on the benchmark (watch it in the Evaluate tab too); press "
                       "**Show the paired compare** when it is done.")
OPENAI_BOTH_NO_ROWS = "{run_id} finished without a leaderboard row for each model, so there is nothing to compare."
OPENAI_LOCAL_NO_MEASUREMENT = "no measurement yet (no finished {method} run of {model} on this machine)"
OPENAI_LOCAL_PLAN_FAILED = "Train locally: {error}"

STUDY_INTRO = ("Run a **hyperparameter search** (Optuna: TPE, random or grid sampling; successive halving, Hyperband, "
               "median or patience pruning; two-phase or early-score protocol) or one of the **studies** (LoRA rank, "
               "method comparison, data efficiency, data selection) on a base model and a data set. Trials appear "
               "live with their state and score; the best configuration can be trained or evaluated in one click; "
               "the report, its tables and plots show when the job ends.")
STUDY_KIND_LABELS = {
    "search": "Hyperparameter search", "lora-rank": "LoRA-rank study", "method-comparison": "Method comparison",
    "data-efficiency": "Data-efficiency curve", "data-selection": "Data selection",
    "task-comparison": "Task comparison (SFT vs DPO vs GRPO)",
}
STUDY_SEARCH_HELP = ("**Search space**: one line per training-config field (`learning_rate`, `batch_size`, "
                     "`method.rank`, `method.alpha_k`, `method.dropout` …) as `{type: float|int|categorical, low, "
                     "high, step, log, choices}` or a list of choices. Phase 1 runs the trials (steps per trial, "
                     "pruned at evaluations); phase 2 trains the top k at the full length (max steps per run).")
STUDY_STUDY_HELP = ("Each study trains one run per row at the full length (max steps per run) and writes a report "
                    "with its tables and plots. Only the knobs of the chosen study are used.")
STUDY_EMPTY_SPACE = "Search space (space) is empty: name at least one field to search, e.g. learning_rate."
STUDY_BAD_SPACE_YAML = "Search space (space) is not valid YAML{line}: {reason}."
STUDY_SPACE_NOT_MAPPING = ("Search space (space) must map field names to ranges, e.g. `learning_rate: {type: float, "
                           "low: 1.0e-5, high: 1.0e-3, log: true}`.")
STUDY_BAD_LIST = "{label} ({name}): {item!r} is not a whole number of at least 1{extra}."
STUDY_EMPTY_LIST = "{label} ({name}) is empty: list at least one value, separated by commas."
STUDY_UNKNOWN_KIND = "What to run (kind) {kind!r} is not one of {known}."
STUDY_CHECK_OK = "✅ Ready."
STUDY_CHECK_FAILED = "❌ Not ready: {error}"
STUDY_CHECK_SEARCH = ("Search over {params}: {trials} {protocol} trial(s) scored after {steps} of {per} step(s), "
                      "evaluated every {every}; {sampler} sampler, {pruner} pruner; then {top_k} full-length run(s) "
                      "of {full} steps.")
STUDY_CHECK_STUDY = "{study} study: each run trains {steps} steps; primary metric {metric}."
STUDY_STARTED = "Started `{run_id}`."
STUDY_NO_RUN = "Start a search or study, or pick a recent one to watch."
STUDY_UNKNOWN_RUN = "There is no search or study {run_id!r} in the store."
STUDY_RUN_STATUS = {
    "queued": "⏳ Status: **queued** (waiting for its process and the device)",
    "running": "🏃 Status: **running**{phase}",
    "done": "✅ Status: **done**",
    "failed": "❌ Status: **failed**: {error}",
    "cancelled": "⏹ Status: **cancelled**",
}
STUDY_PHASE1 = ": phase 1, {done}/{total} trials finished"
STUDY_PHASE2 = ": phase 2, full-length run of the top {place} (`run:{run_id}`)"
STUDY_STARTING = ": loading the data and the model …"
STUDY_WAITING_TRIALS = "_Waiting for the first trial …_"
STUDY_STUDY_FIGURES = "{done} run(s) complete, {failed} failed; {steps} training steps so far."
STUDY_SAVED_NOTE = ("Phase 1 ran **{steps} of {unpruned} steps** that the same trials would have run unpruned: "
                    "**{saved} compute saved** (from {source}).")
STUDY_PREDICTION = ("Early scores vs final ones: Spearman {spearman} over {pairs} configurations; top-{top_k} overlap "
                    "{overlap} of {top_k}.")
STUDY_NO_BEST_YET = "_No complete trial yet._"
STUDY_SO_FAR = " (so far)"
STUDY_BEST = "**{metric} = {value}**{so_far}, {where}:\n\n```yaml\n{params}\n```"
STUDY_BEST_RUN = "**{label}**: {metric} = {value} (`run:{run_id}`)"
STUDY_NO_REPORT = "_This run wrote no report (report.md)._"
STUDY_CANCELLED = "Cancelled {run_id}."
STUDY_ALREADY_FINISHED = "{run_id} had already finished ({status}); nothing to cancel."
STUDY_TRAIN_ONLY_SEARCH = "Train this applies to searches: a study's runs are already trained (Evaluate this works)."
STUDY_NO_BEST = "{run_id} has no complete trial yet: there is no best configuration to train."
STUDY_NO_BEST_RUN = ("{run_id} has no full-length run of its best configuration yet: wait for phase 2, or use Train "
                     "this first and evaluate that run in the Evaluate tab.")
STUDY_TRAIN_STARTED = ("Started training `{run_id}` with the best parameters at full length: watch it in the "
                       "**Fine-tune** tab (`run:{run_id}` when done).")
STUDY_EVALUATE_STARTED = "Started evaluation `{run_id}` on {benchmark}: watch it in the **Evaluate** tab."
STUDY_NO_VALIDATION = ("Validation split (eval_split): {dataset} has no {split!r} split, and every trial is scored on "
                       "validation data: give a validation set (eval_dataset) or another split.")
STUDY_VALIDATION = "{count} validation examples from {source}"
