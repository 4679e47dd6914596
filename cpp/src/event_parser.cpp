// Event scanner. JSON errors always win over event errors: an event-level problem is only
// reported after the whole line parsed as JSON.
#include "event_parser.hpp"

#include <cstring>

#include "timestamp.hpp"

namespace mr {

bool is_blank_line(std::string_view line) {
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

namespace {

constexpr unsigned kTs = 1, kType = 2, kUser = 4, kValue = 8;

inline unsigned classify_key(std::string_view k) {
  switch (k.size()) {
    case 2:
      return (k[0] == 't' && k[1] == 's') ? kTs : 0;
    case 4:
      if (std::memcmp(k.data(), "type", 4) == 0) return kType;
      if (std::memcmp(k.data(), "user", 4) == 0) return kUser;
      return 0;
    case 5:
      return std::memcmp(k.data(), "value", 5) == 0 ? kValue : 0;
    default:
      return 0;
  }
}

}  // namespace

LineStatus EventParser::parse(std::string_view line, Event* event, JsonError* error) {
  const char* base = line.data();
  const char* end = base + line.size();
  const char* p = skip_ws(base, end);
  auto json_fail = [&](const char* what, const char* at) {
    error->what = what;
    error->offset = static_cast<std::size_t>(at - base);
    return LineStatus::kInvalidJson;
  };

  if (p >= end || *p != '{') {
    p = skip_value(p, end, base, 1, error);
    if (p == nullptr) return LineStatus::kInvalidJson;
    p = skip_ws(p, end);
    if (p != end) return json_fail("trailing characters after JSON value", p);
    error->what = "not a JSON object";
    error->offset = 0;
    return LineStatus::kInvalidEvent;
  }

  unsigned seen = 0;
  const char* event_error = nullptr;
  std::string_view ts, type, user;
  std::int64_t value = 0;

  p = skip_ws(p + 1, end);
  if (p < end && *p == '}') {
    ++p;
  } else {
    for (;;) {
      if (p >= end || *p != '"') return json_fail("expected object key", p);
      bool escaped = false;
      const char* key_start = p + 1;
      p = scan_string(key_start, end, base, &key_buf_, &escaped, error);
      if (p == nullptr) return LineStatus::kInvalidJson;
      std::string_view key = escaped ? std::string_view(key_buf_)
                                     : std::string_view(key_start, static_cast<std::size_t>(p - 1 - key_start));
      p = skip_ws(p, end);
      if (p >= end || *p != ':') return json_fail("expected ':'", p);
      p = skip_ws(p + 1, end);
      if (p >= end) return json_fail("unexpected end of line", p);

      const unsigned field = classify_key(key);
      if (field != 0 && (seen & field) != 0 && event_error == nullptr) event_error = "duplicate key";
      const bool first = field != 0 && (seen & field) == 0;
      seen |= field;

      if (field == kValue) {
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
          NumberInfo ni;
          const char* q = scan_number(p, end, &ni);
          if (q == nullptr) return json_fail("invalid number", p);
          p = q;
          if (first) {
            if (!ni.integer) {
              if (event_error == nullptr) event_error = "value is not an integer literal";
            } else if (!number_to_int64(ni, &value) || value < INT32_MIN || value > INT32_MAX) {
              if (event_error == nullptr) event_error = "value outside int32";
            }
          }
        } else {
          p = skip_value(p, end, base, 2, error);
          if (p == nullptr) return LineStatus::kInvalidJson;
          if (event_error == nullptr) event_error = "value is not a number";
        }
      } else if (field != 0) {
        if (*p == '"') {
          std::string* buf = field == kTs ? &ts_buf_ : field == kType ? &type_buf_ : &user_buf_;
          const char* s = p + 1;
          p = scan_string(s, end, base, first ? buf : nullptr, &escaped, error);
          if (p == nullptr) return LineStatus::kInvalidJson;
          if (first) {
            std::string_view v = escaped ? std::string_view(*buf)
                                         : std::string_view(s, static_cast<std::size_t>(p - 1 - s));
            (field == kTs ? ts : field == kType ? type : user) = v;
          }
        } else {
          p = skip_value(p, end, base, 2, error);
          if (p == nullptr) return LineStatus::kInvalidJson;
          if (event_error == nullptr) {
            event_error = field == kTs ? "ts is not a string" : field == kType ? "type is not a string" : "user is not a string";
          }
        }
      } else {
        p = skip_value(p, end, base, 2, error);
        if (p == nullptr) return LineStatus::kInvalidJson;
      }

      p = skip_ws(p, end);
      if (p < end && *p == ',') {
        p = skip_ws(p + 1, end);
        continue;
      }
      if (p < end && *p == '}') {
        ++p;
        break;
      }
      return json_fail("expected ',' or '}'", p);
    }
  }
  p = skip_ws(p, end);
  if (p != end) return json_fail("trailing characters after JSON value", p);

  auto event_fail = [&](const char* what) {
    error->what = what;
    error->offset = 0;
    return LineStatus::kInvalidEvent;
  };
  if (event_error != nullptr) return event_fail(event_error);
  if ((seen & kTs) == 0) return event_fail("missing ts");
  if ((seen & kType) == 0) return event_fail("missing type");
  if ((seen & kUser) == 0) return event_fail("missing user");
  if ((seen & kValue) == 0) return event_fail("missing value");
  if (type.empty()) return event_fail("type is empty");
  if (user.empty()) return event_fail("user is empty");
  std::int64_t epoch;
  if (!parse_timestamp(ts, &epoch)) return event_fail("ts is not a valid timestamp");
  event->type = type;
  event->user = user;
  event->value = static_cast<std::int32_t>(value);
  event->epoch = epoch;
  return LineStatus::kValid;
}

}  // namespace mr
