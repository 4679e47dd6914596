// Recursive-descent DOM builder on top of the strict primitives in json_core.
#include "json_dom.hpp"

#include <cstring>

#include "json_core.hpp"

namespace mr {

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const auto& [k, v] : members) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::optional<std::int64_t> JsonValue::as_int64() const {
  if (kind != Kind::kNumber) return std::nullopt;
  NumberInfo ni;
  const char* end = text.data() + text.size();
  if (scan_number(text.data(), end, &ni) != end) return std::nullopt;
  std::int64_t v;
  if (!number_to_int64(ni, &v)) return std::nullopt;
  return v;
}

const char* JsonValue::kind_name() const {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "boolean";
    case Kind::kNumber: return "number";
    case Kind::kString: return "string";
    case Kind::kArray: return "array";
    case Kind::kObject: return "object";
  }
  return "?";
}

namespace {

class DomParser {
 public:
  DomParser(const char* base, const char* end) : base_(base), end_(end) {}

  bool parse(const char*& p, int level, JsonValue* out) {
    if (p >= end_) return fail("unexpected end of input", p);
    switch (*p) {
      case '"': {
        out->kind = JsonValue::Kind::kString;
        bool escaped = false;
        const char* s = p + 1;
        p = scan_string(s, end_, base_, &out->text, &escaped, &err_);
        if (p == nullptr) return false;
        if (!escaped) out->text.assign(s, static_cast<std::size_t>(p - 1 - s));
        return true;
      }
      case '{': {
        if (level > kMaxNesting) return fail("nesting deeper than 64", p);
        out->kind = JsonValue::Kind::kObject;
        p = skip_ws(p + 1, end_);
        if (p < end_ && *p == '}') {
          ++p;
          return true;
        }
        for (;;) {
          if (p >= end_ || *p != '"') return fail("expected object key", p);
          JsonValue key;
          const char* key_at = p;
          if (!parse(p, level, &key)) return false;
          for (const auto& m : out->members) {
            if (m.first == key.text) return fail("duplicate object key", key_at);
          }
          p = skip_ws(p, end_);
          if (p >= end_ || *p != ':') return fail("expected ':'", p);
          p = skip_ws(p + 1, end_);
          JsonValue v;
          if (!parse(p, level + 1, &v)) return false;
          out->members.emplace_back(std::move(key.text), std::move(v));
          p = skip_ws(p, end_);
          if (p < end_ && *p == ',') {
            p = skip_ws(p + 1, end_);
            continue;
          }
          if (p < end_ && *p == '}') {
            ++p;
            return true;
          }
          return fail("expected ',' or '}'", p);
        }
      }
      case '[': {
        if (level > kMaxNesting) return fail("nesting deeper than 64", p);
        out->kind = JsonValue::Kind::kArray;
        p = skip_ws(p + 1, end_);
        if (p < end_ && *p == ']') {
          ++p;
          return true;
        }
        for (;;) {
          JsonValue v;
          if (!parse(p, level + 1, &v)) return false;
          out->items.push_back(std::move(v));
          p = skip_ws(p, end_);
          if (p < end_ && *p == ',') {
            p = skip_ws(p + 1, end_);
            continue;
          }
          if (p < end_ && *p == ']') {
            ++p;
            return true;
          }
          return fail("expected ',' or ']'", p);
        }
      }
      case 't':
      case 'f':
      case 'n': {
        static const char* const kLits[] = {"true", "false", "null"};
        for (const char* lit : kLits) {
          std::size_t n = std::strlen(lit);
          if (static_cast<std::size_t>(end_ - p) >= n && std::memcmp(p, lit, n) == 0) {
            out->kind = lit[0] == 'n' ? JsonValue::Kind::kNull : JsonValue::Kind::kBool;
            out->boolean = lit[0] == 't';
            p += n;
            return true;
          }
        }
        return fail("invalid literal", p);
      }
      default: {
        const char* q = scan_number(p, end_, nullptr);
        if (q == nullptr) return fail("invalid value", p);
        out->kind = JsonValue::Kind::kNumber;
        out->text.assign(p, static_cast<std::size_t>(q - p));
        p = q;
        return true;
      }
    }
  }

  bool fail(const char* what, const char* at) {
    err_.what = what;
    err_.offset = static_cast<std::size_t>(at - base_);
    return false;
  }

  JsonError err_;

 private:
  const char* base_;
  const char* end_;
};

}  // namespace

std::optional<JsonValue> parse_json_document(std::string_view text, std::string* error) {
  std::string padded(text);
  padded.append(kReadPadding, '\0');
  const char* base = padded.data();
  const char* end = base + text.size();
  DomParser parser(base, end);
  JsonValue root;
  const char* p = skip_ws(base, end);
  bool ok = parser.parse(p, 1, &root);
  if (ok) {
    p = skip_ws(p, end);
    if (p != end) ok = parser.fail("trailing characters after JSON value", p);
  }
  if (!ok) {
    if (error != nullptr) *error = std::string(parser.err_.what) + " at byte " + std::to_string(parser.err_.offset);
    return std::nullopt;
  }
  return root;
}

}  // namespace mr
