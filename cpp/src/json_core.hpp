// Strict RFC 8259 building blocks shared by the event scanner, the rules loader and the
// control client: string scanning/decoding with UTF-8 validation, number lexing, value skipping
// with a nesting limit, and the canonical string escaper of DESIGN.md §4.4.
//
// Contract for every `end` below: at least kReadPadding bytes after `end` are readable
// (they may hold anything); the scanners over-read for speed but never trust those bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mr {

inline constexpr std::size_t kReadPadding = 64;
inline constexpr int kMaxNesting = 64;

struct JsonError {
  const char* what = nullptr;  // static text
  std::size_t offset = 0;      // byte offset in the line/document
};

inline bool is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

inline const char* skip_ws(const char* p, const char* end) {
  while (p < end && is_json_ws(*p)) ++p;
  return p;
}

// p points just after the opening quote. On success returns the pointer after the closing quote.
// When the string holds escapes and `decoded` is non-null, the decoded UTF-8 text is stored in
// *decoded and *escaped is set; otherwise the raw bytes [p, result-1) are the value.
// Returns nullptr on error and fills `err->what` (err->offset is set to the failing pointer's
// distance from `base`).
const char* scan_string(const char* p, const char* end, const char* base, std::string* decoded,
                        bool* escaped, JsonError* err);

struct NumberInfo {
  bool integer = false;  // no fraction, no exponent
  bool negative = false;
  const char* digits = nullptr;  // integer digits (after '-')
  std::size_t ndigits = 0;
};

// Lexes one JSON number starting at p. Returns pointer past it or nullptr on a grammar error.
const char* scan_number(const char* p, const char* end, NumberInfo* info);

// Parses an integer literal's digits into int64 if it fits; false otherwise.
bool number_to_int64(const NumberInfo& info, std::int64_t* out);

// Skips one JSON value starting at p (which must not be whitespace). `level` is the nesting
// level a container starting here would have (top-level value: 1).
const char* skip_value(const char* p, const char* end, const char* base, int level, JsonError* err);

// Appends `s` as a JSON string literal (with quotes) escaped per DESIGN.md §4.4.
void append_json_string(std::string& out, std::string_view s);

}  // namespace mr
