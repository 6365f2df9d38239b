// HAT tokenizer in JavaScript: the same ids as the Python `HATTokenizer` (hat_keras.tokenization).
//
// BertTokenizer's text rules (cleaning, lower-casing, accent stripping, CJK, punctuation, special-token
// literals, the 100-character word limit) + greedy longest-match WordPiece, then the `uniform` and
// `sentences` segmentations of the original HATTokenizer with the package's sentence splitter.
// Character classes and lower-casing come from Python's unicodedata (`unicode_tables.mjs`), never from
// the JavaScript engine, whose Unicode version differs. Only NFD (accent stripping) uses
// `String.prototype.normalize`, which Unicode's stability policy keeps equal across versions for every
// character the tables leave in the text.
//
// Long documents are read lazily: tokenization stops once the segments are full, so a 5 MB text costs
// what its first `max_sentences * K` tokens cost. Runs unchanged in browsers and in Node.
// Byte-level BPE (RoBERTa-style vocabularies) is not implemented here.
import TABLES from "./unicode_tables.mjs";

const REMOVED = 1, SPACE = 2, PUNCT = 4, MARK = 8, CJK = 16, PY_SPACE = 32;
const MAX_CHARS_PER_WORD = 100; // transformers' WordpieceTokenizer.max_input_chars_per_word
const SUFFIX = "##";
export const SEGMENTATIONS = ["uniform", "sentences"];
const CLOSERS = "\"'\u201d\u2019)]";

let FLAGS = null;
let LOWER = null;

function tables() {
  if (FLAGS) return;
  const flags = new Uint8Array(0x110000);
  const mark = (ranges, bit) => {
    for (const [a, b] of ranges) for (let c = a; c <= b; c++) flags[c] |= bit;
  };
  mark(TABLES.removed, REMOVED);
  mark(TABLES.bert_space, SPACE);
  mark(TABLES.punctuation, PUNCT);
  mark(TABLES.nonspacing_marks, MARK);
  mark(TABLES.cjk, CJK);
  mark(TABLES.python_space, PY_SPACE);
  LOWER = new Map(Object.entries(TABLES.lower).map(([k, v]) => [Number(k), v]));
  FLAGS = flags;
}

/** Python's `str.isspace` code units of the sentence splitter, as a RegExp character class body. */
function pySpaceClass() {
  tables();
  const esc = (c) => "\\u{" + c.toString(16) + "}";
  return TABLES.python_space.map(([a, b]) => (a === b ? esc(a) : esc(a) + "-" + esc(b))).join("");
}

function tokenString(value) {
  // tokenizer_config.json stores special tokens as strings or AddedToken dicts.
  return value && typeof value === "object" ? value.content : value;
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** vocab.txt -> tokens, read as Python does (universal newlines, trailing whitespace stripped). */
export function parseVocab(text) {
  tables();
  const lines = text.split(/\r\n|\r|\n/);
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines.map((line) => {
    let end = line.length;
    while (end > 0) {
      const c = line.charCodeAt(end - 1);
      if (!(FLAGS[c] & PY_SPACE)) break;
      end--;
    }
    return line.slice(0, end);
  });
}

export class TokenizerError extends Error {}

export class HATTokenizer {
  /**
   * vocab: vocab.txt text; config: config.json (geometry); tokenizerConfig: tokenizer_config.json (or
   * null); specialTokensMap: special_tokens_map.json (or null).
   */
  constructor({ vocab, config = {}, tokenizerConfig = null, specialTokensMap = null }) {
    tables();
    const cfg = { ...(tokenizerConfig || {}) };
    for (const [key, value] of Object.entries(specialTokensMap || {})) if (!(key in cfg)) cfg[key] = value;
    const names = { cls_token: "[CLS]", sep_token: "[SEP]", pad_token: "[PAD]", mask_token: "[MASK]", unk_token: "[UNK]" };
    for (const key of Object.keys(names)) if (cfg[key]) names[key] = tokenString(cfg[key]);
    const extra = (cfg.additional_special_tokens || []).map(tokenString);
    this.lowercase = Boolean("do_lower_case" in cfg ? cfg.do_lower_case : true);
    const strip = cfg.strip_accents;
    this.stripAccents = Boolean(strip) || (strip == null && this.lowercase);
    this.splitOnCjk = Boolean("tokenize_chinese_chars" in cfg ? cfg.tokenize_chinese_chars : true);

    const tokens = Array.isArray(vocab) ? vocab : parseVocab(vocab);
    this.vocab = new Map();
    tokens.forEach((t, i) => this.vocab.set(t, i));
    this.tokens = tokens;
    this.maxPieceLength = 1;
    for (const t of tokens) {
      const n = [...(t.startsWith(SUFFIX) ? t.slice(SUFFIX.length) : t)].length;
      if (n > this.maxPieceLength) this.maxPieceLength = n;
    }
    const idOf = (key) => {
      const id = this.vocab.get(names[key]);
      if (id === undefined) throw new TokenizerError(`vocab.txt has no ${key} ${JSON.stringify(names[key])}`);
      return id;
    };
    this.unkTokenId = idOf("unk_token");
    this.clsTokenId = idOf("cls_token");
    this.padTokenId = idOf("pad_token");
    this.specialTokens = names;
    // Special-token literals are cut out of the raw text first (only those in the vocabulary).
    const literals = [...new Set([...Object.values(names), ...extra])].filter((t) => t && this.vocab.has(t));
    literals.sort((a, b) => [...b].length - [...a].length);
    this.literals = literals;
    this.literalPattern = literals.length ? new RegExp(literals.map(escapeRegExp).join("|"), "gu") : null;
    // A literal containing whitespace could straddle a chunk cut: then texts are read whole.
    this.chunkable = literals.every((t) => ![...t].some((ch) => FLAGS[ch.codePointAt(0)] & SPACE));

    const n = Number(config.max_sentences ?? 64);
    const k = Number(config.max_sentence_length ?? config.max_sentence_size ?? 128);
    const m = Number(config.model_max_length ?? n * k);
    if (!(k >= 2) || !(n >= 1)) {
      throw new TokenizerError(`config.json: need max_sentence_length >= 2 and max_sentences >= 1, got ${k} and ${n}`);
    }
    if (!(m > n)) throw new TokenizerError(`config.json: model_max_length=${m} must exceed max_sentences=${n}`);
    this.maxSentences = n;
    this.segmentLength = k;
    this.modelMaxLength = m;
    this.sequenceLength = n * k;
    const ws = pySpaceClass();
    this.sentenceBreak = new RegExp(`([.!?][${escapeRegExp(CLOSERS)}]?)[${ws}]+|\\n`, "gu");
  }

  /** Build from a folder's files: `read(name)` returns the file's text or null when absent. */
  static async fromFiles(read) {
    const json = async (name) => {
      const text = await read(name);
      if (text == null) return null;
      try {
        return JSON.parse(text);
      } catch (e) {
        throw new TokenizerError(`${name}: not valid JSON (${e.message})`);
      }
    };
    const vocab = await read("vocab.txt");
    if (vocab == null) throw new TokenizerError("no vocab.txt (only WordPiece vocabularies are supported)");
    const config = await json("config.json");
    if (config == null) throw new TokenizerError("no config.json (the segment geometry)");
    return new HATTokenizer({ vocab, config, tokenizerConfig: await json("tokenizer_config.json"),
                              specialTokensMap: await json("special_tokens_map.json") });
  }

  // ---- BERT words --------------------------------------------------------------------------------
  /** Words of `text[from, to)` (a piece without special literals), each {word, start, end} in `text`. */
  _basicWords(text, from, to, out) {
    let cur = "", curStart = -1, curEnd = -1;
    const flush = () => {
      if (cur) this._finishToken(cur, curStart, curEnd, out);
      cur = "";
      curStart = -1;
    };
    for (let i = from; i < to;) {
      const cp = text.codePointAt(i);
      const len = cp > 0xffff ? 2 : 1;
      const lowered = this.lowercase ? LOWER.get(cp) : undefined;
      const chars = lowered === undefined ? [cp] : Array.from(lowered, (ch) => ch.codePointAt(0));
      for (const c of chars) {
        const f = FLAGS[c];
        if (f & REMOVED) continue;
        if (f & SPACE) {
          flush();
          continue;
        }
        if (this.splitOnCjk && f & CJK) {
          flush();
          this._finishToken(String.fromCodePoint(c), i, i + len, out);
          continue;
        }
        if (curStart < 0) curStart = i;
        cur += String.fromCodePoint(c);
        curEnd = i + len;
      }
      i += len;
    }
    flush();
  }

  /** A whitespace-delimited token: accents stripped (NFD, marks dropped), then split at punctuation. */
  _finishToken(token, start, end, out) {
    if (this.stripAccents) {
      let s = "";
      for (const ch of token.normalize("NFD")) if (!(FLAGS[ch.codePointAt(0)] & MARK)) s += ch;
      token = s;
    }
    let word = "";
    for (const ch of token) {
      if (FLAGS[ch.codePointAt(0)] & PUNCT) {
        if (word) out.push({ word, start, end });
        out.push({ word: ch, start, end });
        word = "";
      } else {
        word += ch;
      }
    }
    if (word) out.push({ word, start, end });
  }

  /** Words of `text[from, to)`; special literals pass through whole (marked `special`). */
  _words(text, from, to) {
    const out = [];
    let pos = from;
    if (this.literalPattern) {
      const re = this.literalPattern;
      const piece = from === 0 && to === text.length ? text : text.slice(from, to);
      re.lastIndex = 0;
      let m;
      while ((m = re.exec(piece)) !== null) {
        const at = from + m.index;
        if (at > pos) this._basicWords(text, pos, at, out);
        out.push({ word: m[0], start: at, end: at + m[0].length, special: true });
        pos = at + m[0].length;
      }
    }
    if (pos < to) this._basicWords(text, pos, to, out);
    return out;
  }

  /** transformers' WordpieceTokenizer: greedy longest match; over-long or unmatched words are UNK. */
  _wordPiece(word, ids) {
    // word.length counts UTF-16 units, never fewer than the code points transformers counts.
    if (word.length > MAX_CHARS_PER_WORD && [...word].length > MAX_CHARS_PER_WORD) {
      ids.push(this.unkTokenId);
      return 1;
    }
    const whole = this.vocab.get(word);
    if (whole !== undefined) {
      ids.push(whole);
      return 1;
    }
    const cps = [...word];
    const pieces = [];
    let start = 0;
    while (start < cps.length) {
      let end = Math.min(cps.length, start + this.maxPieceLength);
      let found = -1;
      while (start < end) {
        const sub = (start > 0 ? SUFFIX : "") + cps.slice(start, end).join("");
        const id = this.vocab.get(sub);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
      }
      if (found < 0) {
        ids.push(this.unkTokenId);
        return 1;
      }
      pieces.push(found);
      start = end;
    }
    for (const p of pieces) ids.push(p);
    return pieces.length;
  }

  /**
   * WordPiece ids of `text[from, to)` without special tokens, stopping once `limit` ids are known.
   * Returns {ids, starts, ends}: each id's word span in `text` (UTF-16 offsets).
   * Chunks are cut right after a BERT whitespace character, across which tokenization is independent.
   */
  wordIds(text, limit = Infinity, from = 0, to = text.length) {
    const ids = [], starts = [], ends = [];
    let pos = from;
    let size = 8192;
    while (pos < to && ids.length < limit) {
      let cut = to;
      if (this.chunkable && to - pos > size) {
        cut = pos + size;
        let j = cut;
        while (j > pos && !(FLAGS[text.charCodeAt(j - 1)] & SPACE)) j--;
        if (j === pos) {
          j = cut;
          while (j < to && !(FLAGS[text.charCodeAt(j - 1)] & SPACE)) j++;
        }
        cut = j;
        size *= 2;
      }
      for (const w of this._words(text, pos, cut)) {
        const n = this._wordPiece(w.word, ids);
        for (let i = 0; i < n; i++) {
          starts.push(w.start);
          ends.push(w.end);
        }
        if (ids.length >= limit) break;
      }
      pos = cut;
    }
    return { ids, starts, ends };
  }

  // ---- sentences -----------------------------------------------------------------------------------
  /** Lazily, the sentences of `text` as [start, end) offsets: split at newlines, then at whitespace after
   * . ! ? (plus one optional closing quote or bracket), each stripped of Python whitespace, empty ones dropped. */
  *sentences(text) {
    const re = new RegExp(this.sentenceBreak.source, "gu");
    let prev = 0;
    for (;;) {
      const m = re.exec(text);
      const cut = m ? m.index + (m[1] ? m[1].length : 0) : text.length;
      let a = prev, b = cut;
      while (a < b && FLAGS[text.charCodeAt(a)] & PY_SPACE) a++;
      while (b > a && FLAGS[text.charCodeAt(b - 1)] & PY_SPACE) b--;
      if (b > a) yield [a, b];
      if (!m) return;
      prev = m.index + m[0].length;
    }
  }

  // ---- segmentations -------------------------------------------------------------------------------
  /**
   * One document -> {token_ids, padding_mask, segment_ids} (Int32Array of max_sentences * K each) and
   * `segments`: per segment, the [start, end) span of the text it holds (null for padding segments),
   * and `charsRead`: how far into the text tokenization went.
   */
  encode(text, segmentation = "sentences") {
    if (typeof text !== "string") throw new TokenizerError("a document must be a string");
    if (segmentation === "uniform") return this._uniform(text);
    if (segmentation === "sentences") return this._sentences(text);
    throw new TokenizerError(`segmentation=${JSON.stringify(segmentation)}: expected one of ${SEGMENTATIONS.join(", ")}`);
  }

  _empty() {
    const size = this.sequenceLength;
    return { token_ids: new Int32Array(size).fill(this.padTokenId), padding_mask: new Int32Array(size),
             segment_ids: new Int32Array(size), segments: new Array(this.maxSentences).fill(null), charsRead: 0 };
  }

  /** Upstream uniform chunking: the first model_max_length - max_sentences ids, K-1 per segment. */
  _uniform(text) {
    const n = this.maxSentences, k = this.segmentLength, step = k - 1, pad = this.padTokenId;
    const keep = this.modelMaxLength - n;
    const { ids, starts, ends } = this.wordIds(text, Math.min(keep, n * step));
    const count = Math.min(ids.length, keep);
    const out = this._empty();
    for (let s = 0; s < n; s++) {
      const lo = s * step;
      if (lo >= keep) break; // model_max_length < N*K: trailing segments stay padding
      const hi = Math.min(lo + step, keep);
      const real = Math.max(0, Math.min(hi, count) - lo);
      if (!real) break;
      const base = s * k;
      let allPad = true;
      for (let i = 0; i < real; i++) {
        out.token_ids[base + 1 + i] = ids[lo + i];
        out.padding_mask[base + 1 + i] = 1;
        if (ids[lo + i] !== pad) allPad = false;
      }
      // A chunk of only "[PAD]" literals starts with PAD, as upstream; its first mask is still 1.
      out.token_ids[base] = allPad ? pad : this.clsTokenId;
      out.padding_mask[base] = 1;
      out.segments[s] = [starts[lo], ends[lo + real - 1]];
    }
    out.charsRead = count ? ends[count - 1] : 0;
    return out;
  }

  /** Upstream `sentence_grouping`: greedy packing of whole sentences into K-1 tokens. */
  _sentences(text) {
    const n = this.maxSentences, k = this.segmentLength, budget = k - 1;
    // Grouping reads at most a sentence's first 2K ids (the rest can never be emitted), and whether it has more.
    const limit = 2 * k;
    const doc = [];
    let cur = null; // {ids, starts, ends} or null
    let charsRead = 0;
    const slice = (t, a, b) => ({ ids: t.ids.slice(a, b), starts: t.starts.slice(a, b), ends: t.ends.slice(a, b) });
    for (const [a, b] of this.sentences(text)) {
      if (doc.length >= n) break;
      const sent = this.wordIds(text, limit, a, b);
      charsRead = b;
      const curLen = cur ? cur.ids.length : 0;
      if (curLen + sent.ids.length <= budget) {
        cur = cur ? { ids: cur.ids.concat(sent.ids), starts: cur.starts.concat(sent.starts),
                      ends: cur.ends.concat(sent.ends) } : sent;
      } else {
        doc.push(slice(curLen ? cur : sent, 0, budget));
        cur = curLen ? sent : slice(sent, k, sent.ids.length);
      }
      if (cur && !cur.ids.length) cur = null;
    }
    if (cur && cur.ids.length && doc.length < n) doc.push(slice(cur, 0, budget));
    const out = this._empty();
    doc.forEach((seg, s) => {
      const base = s * k;
      out.token_ids[base] = this.clsTokenId;
      out.padding_mask[base] = 1;
      seg.ids.forEach((id, i) => {
        out.token_ids[base + 1 + i] = id;
        out.padding_mask[base + 1 + i] = 1;
      });
      out.segments[s] = seg.ids.length ? [seg.starts[0], seg.ends[seg.ids.length - 1]] : null;
    });
    out.charsRead = charsRead;
    return out;
  }
}
