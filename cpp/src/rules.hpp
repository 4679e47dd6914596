// Rules of DESIGN.md §4.3: drop conditions, tag rules (later rule wins per tag name) and the
// window size. Loaded and type-checked up front; evaluation allocates nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "event_parser.hpp"

namespace mr {

enum class RuleField { kType, kUser, kValue };
enum class RuleOp { kEq, kNe, kLt, kLte, kGt, kGte, kIn, kPrefix };

struct Condition {
  RuleField field = RuleField::kType;
  RuleOp op = RuleOp::kEq;
  std::vector<std::string> strings;  // string operand(s) for type/user
  std::vector<std::int64_t> ints;    // integer operand(s) for value

  bool holds(const Event& e) const;
};

struct TagAssignment {
  std::uint32_t name_id;
  std::uint32_t pair_id;
};

struct TagRule {
  Condition when;
  std::vector<TagAssignment> set;
};

struct Rules {
  std::vector<Condition> drop;
  std::vector<TagRule> tags;
  std::int64_t window_seconds = 60;
  std::vector<std::string> tag_names;  // distinct tag names, by name_id
  std::vector<std::string> tag_keys;   // "name=value", by pair_id

  bool dropped(const Event& e) const;
  // Writes the pair ids of the tags an event ends up with into `out` (room for
  // tag_names.size() entries) and returns how many. `winners` is caller-owned scratch.
  std::size_t apply_tags(const Event& e, std::vector<std::int32_t>& winners, std::uint32_t* out) const;
};

Rules default_rules();
// Parses rules JSON; on error returns nullopt with a one-line message naming rule and value.
std::optional<Rules> parse_rules(std::string_view text, std::string* error);
std::optional<Rules> load_rules_file(const std::string& path, std::string* error);

}  // namespace mr
