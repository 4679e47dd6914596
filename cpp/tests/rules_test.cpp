// Rules engine: every op, `in`, `prefix`, tag overriding, window sizes and load-time errors.
#include <gtest/gtest.h>

#include "rules.hpp"

namespace mr {
namespace {

Event make(std::string_view type, std::string_view user, int value) {
  Event e;
  e.type = type;
  e.user = user;
  e.value = value;
  return e;
}

bool holds(const std::string& cond, const Event& e) {
  std::string error;
  auto r = parse_rules(R"({"drop":[)" + cond + "]}", &error);
  EXPECT_TRUE(r.has_value()) << error;
  return r && r->dropped(e);
}

TEST(Rules, NumberOps) {
  Event e = make("click", "u1", 100);
  EXPECT_TRUE(holds(R"({"field":"value","op":"eq","value":100})", e));
  EXPECT_FALSE(holds(R"({"field":"value","op":"ne","value":100})", e));
  EXPECT_TRUE(holds(R"({"field":"value","op":"lt","value":101})", e));
  EXPECT_FALSE(holds(R"({"field":"value","op":"lt","value":100})", e));
  EXPECT_TRUE(holds(R"({"field":"value","op":"lte","value":100})", e));
  EXPECT_TRUE(holds(R"({"field":"value","op":"gt","value":-5})", e));
  EXPECT_FALSE(holds(R"({"field":"value","op":"gt","value":100})", e));
  EXPECT_TRUE(holds(R"({"field":"value","op":"gte","value":100})", e));
  EXPECT_TRUE(holds(R"({"field":"value","op":"lt","value":10000000000})", e));
}

TEST(Rules, StringOpsCompareBytes) {
  Event e = make("click", "\xc3\xa9t\xc3\xa9", 1);
  EXPECT_TRUE(holds(R"({"field":"type","op":"eq","value":"click"})", e));
  EXPECT_TRUE(holds(R"({"field":"type","op":"ne","value":"view"})", e));
  EXPECT_TRUE(holds(R"({"field":"type","op":"lt","value":"clicks"})", e));
  EXPECT_TRUE(holds(R"({"field":"type","op":"gt","value":"Click"})", e));
  EXPECT_TRUE(holds(R"({"field":"type","op":"lte","value":"click"})", e));
  EXPECT_TRUE(holds(R"({"field":"type","op":"gte","value":"click"})", e));
  // 0xC3 > 'z' as unsigned bytes.
  EXPECT_TRUE(holds(R"({"field":"user","op":"gt","value":"zzz"})", e));
  EXPECT_TRUE(holds(R"({"field":"user","op":"eq","value":"\u00e9t\u00e9"})", e));
}

TEST(Rules, InOperator) {
  Event e = make("click", "u1", 7);
  EXPECT_TRUE(holds(R"({"field":"type","op":"in","value":["view","click"]})", e));
  EXPECT_FALSE(holds(R"({"field":"type","op":"in","value":[]})", e));
  EXPECT_TRUE(holds(R"({"field":"value","op":"in","value":[1,7]})", e));
  EXPECT_FALSE(holds(R"({"field":"value","op":"in","value":[1,8]})", e));
}

TEST(Rules, PrefixOperator) {
  Event e = make("click", "u000123", 7);
  EXPECT_TRUE(holds(R"({"field":"user","op":"prefix","value":"u000"})", e));
  EXPECT_TRUE(holds(R"({"field":"user","op":"prefix","value":""})", e));
  EXPECT_FALSE(holds(R"({"field":"user","op":"prefix","value":"u1"})", e));
  EXPECT_FALSE(holds(R"({"field":"type","op":"prefix","value":"clicks"})", e));
}

TEST(Rules, DropWhenAnyConditionHolds) {
  std::string error;
  auto r = parse_rules(R"({"drop":[{"field":"type","op":"eq","value":"a"},{"field":"value","op":"lt","value":0}]})", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_TRUE(r->dropped(make("a", "u", 5)));
  EXPECT_TRUE(r->dropped(make("b", "u", -1)));
  EXPECT_FALSE(r->dropped(make("b", "u", 0)));
}

std::vector<std::string> tags_of(const Rules& r, const Event& e) {
  std::vector<std::int32_t> winners;
  std::vector<std::uint32_t> out(r.tag_names.size() + 1);
  std::size_t n = r.apply_tags(e, winners, out.data());
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back(r.tag_keys[out[i]]);
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(Rules, LaterTagRuleOverridesEarlierForSameName) {
  std::string error;
  auto r = parse_rules(R"({"tag":[
      {"when":{"field":"value","op":"gte","value":0},"set":{"tier":"low","src":"a"}},
      {"when":{"field":"value","op":"gte","value":100},"set":{"tier":"high"}},
      {"when":{"field":"type","op":"eq","value":"nope"},"set":{"tier":"never"}}]})", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(tags_of(*r, make("t", "u", 5)), (std::vector<std::string>{"src=a", "tier=low"}));
  EXPECT_EQ(tags_of(*r, make("t", "u", 500)), (std::vector<std::string>{"src=a", "tier=high"}));
  EXPECT_EQ(tags_of(*r, make("t", "u", -1)), std::vector<std::string>{});
}

TEST(Rules, DefaultRuleSet) {
  Rules r = default_rules();
  EXPECT_EQ(r.window_seconds, 60);
  EXPECT_TRUE(r.dropped(make("view", "u", 1)));
  EXPECT_FALSE(r.dropped(make("click", "u", 1)));
  EXPECT_EQ(tags_of(r, make("click", "u", 100)), std::vector<std::string>{"tier=high"});
  EXPECT_EQ(tags_of(r, make("click", "u", 99)), std::vector<std::string>{"tier=low"});
}

TEST(Rules, WindowSecondsOtherThan60) {
  std::string error;
  auto r = parse_rules(R"({"windowSeconds":3600})", &error);
  ASSERT_TRUE(r) << error;
  EXPECT_EQ(r->window_seconds, 3600);
  EXPECT_TRUE(r->drop.empty());
}

std::string load_error(const std::string& text) {
  std::string error;
  auto r = parse_rules(text, &error);
  EXPECT_FALSE(r.has_value()) << text;
  return error;
}

TEST(Rules, FileErrorsNameTheProblem) {
  EXPECT_NE(load_error("{").find("invalid JSON"), std::string::npos);
  EXPECT_NE(load_error(R"({"drop":[{"field":"type","op":"like","value":"x"}]})").find("drop[0]: unknown op \"like\""),
            std::string::npos);
  EXPECT_NE(load_error(R"({"drop":[{"field":"type","op":"eq","value":"x"},{"field":"type","op":"eq","value":5}]})")
                .find("drop[1]: value 5"),
            std::string::npos);
  EXPECT_NE(load_error(R"({"drop":[{"field":"value","op":"eq","value":"100"}]})").find("value \"100\""),
            std::string::npos);
  EXPECT_NE(load_error(R"({"drop":[{"field":"value","op":"eq","value":1.5}]})").find("value 1.5"), std::string::npos);
  EXPECT_NE(load_error(R"({"drop":[{"field":"value","op":"prefix","value":"1"}]})").find("prefix"), std::string::npos);
  EXPECT_NE(load_error(R"({"drop":[{"field":"type","op":"in","value":"x"}]})").find("array"), std::string::npos);
  EXPECT_NE(load_error(R"({"drop":[{"field":"type","op":"in","value":["x",1]}]})").find("drop[0].value[1]"),
            std::string::npos);
  EXPECT_NE(load_error(R"({"drop":[{"field":"ts","op":"eq","value":"x"}]})").find("unknown field"), std::string::npos);
  EXPECT_NE(load_error(R"({"tag":[{"when":{"field":"value","op":"gte","value":1},"set":{"tier":1}}]})")
                .find("tag[0].set.tier"),
            std::string::npos);
  EXPECT_NE(load_error(R"({"windowSeconds":0})").find("windowSeconds"), std::string::npos);
  EXPECT_NE(load_error(R"({"windowSeconds":1.5})").find("windowSeconds"), std::string::npos);
  EXPECT_NE(load_error(R"([])").find("object"), std::string::npos);
}

TEST(Rules, MissingFileIsAnError) {
  std::string error;
  EXPECT_FALSE(load_rules_file("/nonexistent/rules.json", &error));
  EXPECT_NE(error.find("/nonexistent/rules.json"), std::string::npos);
}

}  // namespace
}  // namespace mr
