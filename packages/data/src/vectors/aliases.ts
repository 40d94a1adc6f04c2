/**
 * Class names of the standard datasets that the generic tokeniser (tokens.ts) gets wrong, mapped to
 * the tokens to look up instead, each with why. Checked against GloVe 6B's vocabulary: every token
 * here has a vector there. Names that only need the whole-name forms (TU-Berlin `sponge bob` ->
 * `spongebob`, `head-phones` -> `headphones`, `t-shirt`) or a plain split (Sketchy `car_(sedan)`,
 * `hot-air_balloon`, TU-Berlin `teddy-bear`) are not listed: the tokeniser finds them.
 */
export interface ClassAlias {
  tokens: string[];
  reason: string;
}

export const CLASS_ALIASES: Readonly<Record<string, ClassAlias>> = {
  'jack-o-lantern': {
    tokens: ['pumpkin', 'lantern'],
    reason:
      "Sketchy: split gives 'jack' (a name, a tool) and 'o', unrelated to the carved pumpkin; the whole name has no vector in GloVe 6B",
  },
  'pipe (for smoking)': {
    tokens: ['pipe', 'tobacco'],
    reason: "TU-Berlin: the disambiguator 'for smoking' holds a stop word; 'tobacco' says which pipe",
  },
  'mouse (animal)': {
    tokens: ['mouse', 'rodent'],
    reason:
      "TU-Berlin: 'animal' is the generic word of every animal class; 'rodent' separates it from computer-mouse",
  },
  keycap: {
    tokens: ['key', 'digit'],
    reason: "emoji subgroup of digits on keyboard keys; 'keycap' has no vector in GloVe 6B",
  },
  alphanum: {
    tokens: ['alphanumeric'],
    reason: "emoji subgroup; Unicode's abbreviation has no vector in GloVe 6B",
  },
  'av-symbol': {
    tokens: ['audio', 'video', 'symbol'],
    reason: "emoji subgroup of audio/video control symbols; 'av' is an ambiguous abbreviation",
  },
};
