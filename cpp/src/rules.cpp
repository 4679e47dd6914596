// Rules loading (strict type checks per field) and evaluation.
#include "rules.hpp"

#include <fstream>
#include <sstream>

#include "json_core.hpp"
#include "json_dom.hpp"

namespace mr {
namespace {

std::string_view field_value(const Event& e, RuleField f) { return f == RuleField::kType ? e.type : e.user; }

template <typename T>
bool compare(RuleOp op, const T& a, const T& b) {
  switch (op) {
    case RuleOp::kEq: return a == b;
    case RuleOp::kNe: return a != b;
    case RuleOp::kLt: return a < b;
    case RuleOp::kLte: return a <= b;
    case RuleOp::kGt: return a > b;
    case RuleOp::kGte: return a >= b;
    default: return false;
  }
}

std::string describe(const JsonValue& v) {
  std::string out;
  switch (v.kind) {
    case JsonValue::Kind::kString: append_json_string(out, v.text); return out;
    case JsonValue::Kind::kNumber: return v.text;
    case JsonValue::Kind::kBool: return v.boolean ? "true" : "false";
    case JsonValue::Kind::kNull: return "null";
    default: return std::string("an ") + v.kind_name();
  }
}

class RulesBuilder {
 public:
  bool fail(const std::string& msg) {
    error_ = msg;
    return false;
  }

  bool operand(const std::string& where, RuleField field, const JsonValue& v, Condition* c) {
    if (field == RuleField::kValue) {
      auto i = v.as_int64();
      if (!i) return fail(where + ": value " + describe(v) + " has the wrong type for field \"value\" (expected an integer)");
      c->ints.push_back(*i);
    } else {
      if (v.kind != JsonValue::Kind::kString)
        return fail(where + ": value " + describe(v) + " has the wrong type for field \"" +
                    (field == RuleField::kType ? "type" : "user") + "\" (expected a string)");
      c->strings.push_back(v.text);
    }
    return true;
  }

  bool condition(const std::string& where, const JsonValue& v, Condition* c) {
    if (v.kind != JsonValue::Kind::kObject) return fail(where + ": expected an object, got " + describe(v));
    for (const auto& [k, _] : v.members) {
      if (k != "field" && k != "op" && k != "value") return fail(where + ": unknown key \"" + k + "\"");
    }
    const JsonValue* f = v.find("field");
    const JsonValue* op = v.find("op");
    const JsonValue* val = v.find("value");
    if (f == nullptr || op == nullptr || val == nullptr) return fail(where + ": needs \"field\", \"op\" and \"value\"");
    if (f->kind != JsonValue::Kind::kString) return fail(where + ": field " + describe(*f) + " is not a string");
    if (f->text == "type") c->field = RuleField::kType;
    else if (f->text == "user") c->field = RuleField::kUser;
    else if (f->text == "value") c->field = RuleField::kValue;
    else return fail(where + ": unknown field " + describe(*f) + " (expected type, user or value)");
    if (op->kind != JsonValue::Kind::kString) return fail(where + ": op " + describe(*op) + " is not a string");
    static const std::pair<const char*, RuleOp> kOps[] = {
        {"eq", RuleOp::kEq}, {"ne", RuleOp::kNe},   {"lt", RuleOp::kLt}, {"lte", RuleOp::kLte},
        {"gt", RuleOp::kGt}, {"gte", RuleOp::kGte}, {"in", RuleOp::kIn}, {"prefix", RuleOp::kPrefix}};
    bool known = false;
    for (const auto& [name, o] : kOps) {
      if (op->text == name) {
        c->op = o;
        known = true;
      }
    }
    if (!known) return fail(where + ": unknown op " + describe(*op));
    if (c->op == RuleOp::kIn) {
      if (val->kind != JsonValue::Kind::kArray) return fail(where + ": op \"in\" needs an array, got " + describe(*val));
      for (std::size_t i = 0; i < val->items.size(); ++i) {
        if (!operand(where + ".value[" + std::to_string(i) + "]", c->field, val->items[i], c)) return false;
      }
      return true;
    }
    if (c->op == RuleOp::kPrefix && c->field == RuleField::kValue)
      return fail(where + ": op \"prefix\" needs a string field, got field \"value\"");
    return operand(where, c->field, *val, c);
  }

  std::optional<Rules> build(const JsonValue& root) {
    Rules r;
    if (root.kind != JsonValue::Kind::kObject) {
      fail("rules must be a JSON object, got " + describe(root));
      return std::nullopt;
    }
    for (const auto& [k, _] : root.members) {
      if (k != "drop" && k != "tag" && k != "windowSeconds") {
        fail("unknown top-level key \"" + k + "\" (expected drop, tag, windowSeconds)");
        return std::nullopt;
      }
    }
    if (const JsonValue* drop = root.find("drop")) {
      if (drop->kind != JsonValue::Kind::kArray) {
        fail("drop must be an array, got " + describe(*drop));
        return std::nullopt;
      }
      for (std::size_t i = 0; i < drop->items.size(); ++i) {
        Condition c;
        if (!condition("drop[" + std::to_string(i) + "]", drop->items[i], &c)) return std::nullopt;
        r.drop.push_back(std::move(c));
      }
    }
    if (const JsonValue* tag = root.find("tag")) {
      if (tag->kind != JsonValue::Kind::kArray) {
        fail("tag must be an array, got " + describe(*tag));
        return std::nullopt;
      }
      for (std::size_t i = 0; i < tag->items.size(); ++i) {
        const std::string where = "tag[" + std::to_string(i) + "]";
        const JsonValue& t = tag->items[i];
        if (t.kind != JsonValue::Kind::kObject) {
          fail(where + ": expected an object, got " + describe(t));
          return std::nullopt;
        }
        for (const auto& [k, _] : t.members) {
          if (k != "when" && k != "set") {
            fail(where + ": unknown key \"" + k + "\"");
            return std::nullopt;
          }
        }
        const JsonValue* when = t.find("when");
        const JsonValue* set = t.find("set");
        if (when == nullptr || set == nullptr) {
          fail(where + ": needs \"when\" and \"set\"");
          return std::nullopt;
        }
        TagRule rule;
        if (!condition(where + ".when", *when, &rule.when)) return std::nullopt;
        if (set->kind != JsonValue::Kind::kObject) {
          fail(where + ".set: expected an object, got " + describe(*set));
          return std::nullopt;
        }
        for (const auto& [name, val] : set->members) {
          if (val.kind != JsonValue::Kind::kString) {
            fail(where + ".set." + name + ": tag value " + describe(val) + " is not a string");
            return std::nullopt;
          }
          rule.set.push_back({intern(r.tag_names, name), intern(r.tag_keys, name + "=" + val.text)});
        }
        r.tags.push_back(std::move(rule));
      }
    }
    if (const JsonValue* w = root.find("windowSeconds")) {
      auto ws = w->as_int64();
      if (!ws || *ws <= 0 || *ws > (std::int64_t{1} << 40)) {
        fail("windowSeconds " + describe(*w) + " must be a positive integer");
        return std::nullopt;
      }
      r.window_seconds = *ws;
    }
    return r;
  }

  static std::uint32_t intern(std::vector<std::string>& table, const std::string& s) {
    for (std::size_t i = 0; i < table.size(); ++i) {
      if (table[i] == s) return static_cast<std::uint32_t>(i);
    }
    table.push_back(s);
    return static_cast<std::uint32_t>(table.size() - 1);
  }

  std::string error_;
};

}  // namespace

bool Condition::holds(const Event& e) const {
  if (field == RuleField::kValue) {
    const std::int64_t v = e.value;
    if (op == RuleOp::kIn) {
      for (std::int64_t x : ints) {
        if (x == v) return true;
      }
      return false;
    }
    return compare(op, v, ints[0]);
  }
  const std::string_view v = field_value(e, field);
  switch (op) {
    case RuleOp::kIn:
      for (const auto& s : strings) {
        if (v == s) return true;
      }
      return false;
    case RuleOp::kPrefix:
      return v.starts_with(strings[0]);
    default:
      return compare(op, v, std::string_view(strings[0]));
  }
}

bool Rules::dropped(const Event& e) const {
  for (const auto& c : drop) {
    if (c.holds(e)) return true;
  }
  return false;
}

std::size_t Rules::apply_tags(const Event& e, std::vector<std::int32_t>& winners, std::uint32_t* out) const {
  if (tags.empty()) return 0;
  winners.assign(tag_names.size(), -1);
  for (const auto& rule : tags) {
    if (!rule.when.holds(e)) continue;
    for (const auto& a : rule.set) winners[a.name_id] = static_cast<std::int32_t>(a.pair_id);
  }
  std::size_t n = 0;
  for (std::int32_t w : winners) {
    if (w >= 0) out[n++] = static_cast<std::uint32_t>(w);
  }
  return n;
}

Rules default_rules() {
  std::string error;
  auto r = parse_rules(
      R"({"drop":[{"field":"type","op":"eq","value":"view"}],)"
      R"("tag":[{"when":{"field":"value","op":"gte","value":100},"set":{"tier":"high"}},)"
      R"({"when":{"field":"value","op":"lt","value":100},"set":{"tier":"low"}}],"windowSeconds":60})",
      &error);
  return *r;
}

std::optional<Rules> parse_rules(std::string_view text, std::string* error) {
  std::string parse_error;
  auto doc = parse_json_document(text, &parse_error);
  if (!doc) {
    *error = "invalid JSON: " + parse_error;
    return std::nullopt;
  }
  RulesBuilder b;
  auto r = b.build(*doc);
  if (!r) *error = b.error_;
  return r;
}

std::optional<Rules> load_rules_file(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "rules file " + path + ": cannot read";
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string inner;
  auto r = parse_rules(ss.str(), &inner);
  if (!r) *error = "rules file " + path + ": " + inner;
  return r;
}

}  // namespace mr
