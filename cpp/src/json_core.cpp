// Strict JSON primitives; see json_core.hpp for the padding contract.
#include "json_core.hpp"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mr {
namespace {

inline const char* fail(JsonError* err, const char* what, const char* at, const char* base) {
  if (err != nullptr) {
    err->what = what;
    err->offset = static_cast<std::size_t>(at - base);
  }
  return nullptr;
}

// Advances over bytes that need no attention inside a string: printable ASCII other than
// '"' and '\\'. May look at up to 15 bytes beyond `end` (padding contract).
inline const char* skip_plain(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i slash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (p < end) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: bytes >= 0x80 are negative, so this flags control chars and non-ASCII.
    __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)),
                                   _mm_cmplt_epi8(v, space));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
  return end;
#else
  while (p < end) {
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return p;
    ++p;
  }
  return end;
#endif
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline bool read_hex4(const char* p, const char* end, unsigned* out) {
  if (end - p < 4) return false;
  unsigned v = 0;
  for (int i = 0; i < 4; ++i) {
    int h = hex_value(p[i]);
    if (h < 0) return false;
    v = (v << 4) | static_cast<unsigned>(h);
  }
  *out = v;
  return true;
}

inline void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0 if invalid
// (overlong forms, encoded surrogates, > U+10FFFF, truncated).
inline int utf8_sequence_length(const unsigned char* p, const unsigned char* end) {
  unsigned c0 = p[0];
  auto cont = [&](int i) { return p + i < end && (p[i] & 0xC0) == 0x80; };
  if (c0 < 0xC2) return 0;
  if (c0 < 0xE0) return cont(1) ? 2 : 0;
  if (c0 < 0xF0) {
    if (!cont(1) || !cont(2)) return 0;
    if (c0 == 0xE0 && p[1] < 0xA0) return 0;
    if (c0 == 0xED && p[1] > 0x9F) return 0;
    return 3;
  }
  if (c0 < 0xF5) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c0 == 0xF0 && p[1] < 0x90) return 0;
    if (c0 == 0xF4 && p[1] > 0x8F) return 0;
    return 4;
  }
  return 0;
}

}  // namespace

const char* scan_string(const char* p, const char* end, const char* base, std::string* decoded,
                        bool* escaped, JsonError* err) {
  bool esc = false;
  const char* seg = p;  // start of raw bytes not yet copied to *decoded
  for (;;) {
    p = skip_plain(p, end);
    if (p >= end) return fail(err, "unterminated string", end, base);
    unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"') {
      if (esc && decoded != nullptr) decoded->append(seg, p);
      if (escaped != nullptr) *escaped = esc;
      return p + 1;
    }
    if (c == '\\') {
      if (decoded != nullptr) {
        if (!esc) decoded->clear();
        decoded->append(seg, p);
      }
      esc = true;
      if (p + 1 >= end) return fail(err, "unterminated escape", p, base);
      char e = p[1];
      char simple = 0;
      switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return fail(err, "invalid escape", p, base);
      }
      if (e != 'u') {
        if (decoded != nullptr) decoded->push_back(simple);
        p += 2;
      } else {
        unsigned cp;
        if (!read_hex4(p + 2, end, &cp)) return fail(err, "invalid \\u escape", p, base);
        const char* next = p + 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(err, "lone low surrogate escape", p, base);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (end - next < 6 || next[0] != '\\' || next[1] != 'u' || !read_hex4(next + 2, end, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF) {
            return fail(err, "lone high surrogate escape", p, base);
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          next += 6;
        }
        if (decoded != nullptr) append_utf8(*decoded, cp);
        p = next;
      }
      seg = p;
      continue;
    }
    if (c < 0x20) return fail(err, "control character in string", p, base);
    int n = utf8_sequence_length(reinterpret_cast<const unsigned char*>(p),
                                 reinterpret_cast<const unsigned char*>(end));
    if (n == 0) return fail(err, "invalid UTF-8", p, base);
    p += n;
  }
}

const char* scan_number(const char* p, const char* end, NumberInfo* info) {
  NumberInfo ni;
  if (p < end && *p == '-') {
    ni.negative = true;
    ++p;
  }
  ni.digits = p;
  if (p >= end) return nullptr;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && *p >= '0' && *p <= '9') ++p;
  } else {
    return nullptr;
  }
  ni.ndigits = static_cast<std::size_t>(p - ni.digits);
  ni.integer = true;
  if (p < end && *p == '.') {
    ni.integer = false;
    ++p;
    const char* f = p;
    while (p < end && *p >= '0' && *p <= '9') ++p;
    if (p == f) return nullptr;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    ni.integer = false;
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    const char* x = p;
    while (p < end && *p >= '0' && *p <= '9') ++p;
    if (p == x) return nullptr;
  }
  if (info != nullptr) *info = ni;
  return p;
}

bool number_to_int64(const NumberInfo& info, std::int64_t* out) {
  if (!info.integer || info.ndigits > 19) return false;
  unsigned __int128 v = 0;
  for (std::size_t i = 0; i < info.ndigits; ++i) v = v * 10 + static_cast<unsigned>(info.digits[i] - '0');
  const unsigned __int128 limit = info.negative ? (static_cast<unsigned __int128>(INT64_MAX) + 1) : INT64_MAX;
  if (v > limit) return false;
  if (info.negative) {
    *out = v == limit ? INT64_MIN : -static_cast<std::int64_t>(v);
  } else {
    *out = static_cast<std::int64_t>(v);
  }
  return true;
}

const char* skip_value(const char* p, const char* end, const char* base, int level, JsonError* err) {
  if (p >= end) return fail(err, "unexpected end of line", p, base);
  switch (*p) {
    case '"':
      return scan_string(p + 1, end, base, nullptr, nullptr, err);
    case '{': {
      if (level > kMaxNesting) return fail(err, "nesting deeper than 64", p, base);
      p = skip_ws(p + 1, end);
      if (p < end && *p == '}') return p + 1;
      for (;;) {
        if (p >= end || *p != '"') return fail(err, "expected object key", p, base);
        p = scan_string(p + 1, end, base, nullptr, nullptr, err);
        if (p == nullptr) return nullptr;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') return fail(err, "expected ':'", p, base);
        p = skip_ws(p + 1, end);
        p = skip_value(p, end, base, level + 1, err);
        if (p == nullptr) return nullptr;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
          p = skip_ws(p + 1, end);
          continue;
        }
        if (p < end && *p == '}') return p + 1;
        return fail(err, "expected ',' or '}'", p, base);
      }
    }
    case '[': {
      if (level > kMaxNesting) return fail(err, "nesting deeper than 64", p, base);
      p = skip_ws(p + 1, end);
      if (p < end && *p == ']') return p + 1;
      for (;;) {
        p = skip_value(p, end, base, level + 1, err);
        if (p == nullptr) return nullptr;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
          p = skip_ws(p + 1, end);
          continue;
        }
        if (p < end && *p == ']') return p + 1;
        return fail(err, "expected ',' or ']'", p, base);
      }
    }
    case 't':
      if (end - p >= 4 && std::memcmp(p, "true", 4) == 0) return p + 4;
      return fail(err, "invalid literal", p, base);
    case 'f':
      if (end - p >= 5 && std::memcmp(p, "false", 5) == 0) return p + 5;
      return fail(err, "invalid literal", p, base);
    case 'n':
      if (end - p >= 4 && std::memcmp(p, "null", 4) == 0) return p + 4;
      return fail(err, "invalid literal", p, base);
    default: {
      const char* q = scan_number(p, end, nullptr);
      if (q == nullptr) return fail(err, "invalid value", p, base);
      return q;
    }
  }
}

void append_json_string(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    if (c == '"') {
      out.append("\\\"");
    } else if (c == '\\') {
      out.append("\\\\");
    } else {
      char buf[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(buf, 6);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

}  // namespace mr
