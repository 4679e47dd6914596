// A small strict JSON document model for configuration-sized inputs (rules file, control-server
// responses). Not used on the event hot path.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mr {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // string value (decoded) or the number's literal text
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;

  const JsonValue* find(std::string_view key) const;
  // The integer value of a number without fraction/exponent that fits int64.
  std::optional<std::int64_t> as_int64() const;
  const char* kind_name() const;
};

// Parses a whole document; on error returns nullopt and sets *error to a message with the byte
// offset. Duplicate object keys are an error.
std::optional<JsonValue> parse_json_document(std::string_view text, std::string* error);

}  // namespace mr
