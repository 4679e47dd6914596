// Strict single-pass scanner for one NDJSON line: validates the whole line as JSON and extracts
// the four event fields of DESIGN.md §4.2 without allocating (after warm-up).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "json_core.hpp"

namespace mr {

inline constexpr std::size_t kMaxLineBytes = 1024 * 1024;

enum class LineStatus { kValid, kInvalidJson, kInvalidEvent };

struct Event {
  std::string_view type;  // decoded; views into the line or into the parser's scratch buffers
  std::string_view user;
  std::int32_t value = 0;
  std::int64_t epoch = 0;  // seconds, fraction cut
};

class EventParser {
 public:
  // `line` excludes the newline and the trailing '\r', is not blank, and has kReadPadding
  // readable bytes after its end. On kValid, `event` is filled (its views stay valid until the
  // next call). Otherwise `error` tells why.
  LineStatus parse(std::string_view line, Event* event, JsonError* error);

 private:
  std::string key_buf_, ts_buf_, type_buf_, user_buf_;
};

// True when the line holds only spaces, tabs and '\r' (or nothing).
bool is_blank_line(std::string_view line);

}  // namespace mr
