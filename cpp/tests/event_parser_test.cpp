// One named test per edge case of DESIGN.md §4.2 at the line level.
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace mr {
namespace {

using test::check_line;

std::string ev(const std::string& ts, const std::string& value, const std::string& extra = "") {
  return R"({"ts":")" + ts + R"(","type":"click","user":"u1","value":)" + value + extra + "}";
}

TEST(EventParser, TypicalLine) {
  auto c = check_line(
      R"({"ts":"2026-03-01T12:00:03.123Z","type":"click","user":"u000123","value":42,"metadata":{"page":"/home","session":"s1"}})");
  ASSERT_EQ(c.status, LineStatus::kValid);
  EXPECT_EQ(c.type, "click");
  EXPECT_EQ(c.user, "u000123");
  EXPECT_EQ(c.event.value, 42);
  EXPECT_EQ(c.event.epoch, 1772366403);
}

TEST(EventParser, WhitespaceAndKeyOrderAreFree) {
  auto c = check_line(" { \"value\" : -7 ,\t\"user\":\"b\", \"type\":\"a\" ,\"ts\":\"2026-01-01T00:00:00Z\" } ");
  ASSERT_EQ(c.status, LineStatus::kValid);
  EXPECT_EQ(c.event.value, -7);
}

TEST(EventParser, UnicodeEscapesAreDecoded) {
  auto c = check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"caf\u00e9","user":"\u0041\n\"x\"","value":1})");
  ASSERT_EQ(c.status, LineStatus::kValid);
  EXPECT_EQ(c.type, "caf\xc3\xa9");
  EXPECT_EQ(c.user, "A\n\"x\"");
}

TEST(EventParser, SurrogatePairIsCombined) {
  auto c = check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"\ud83d\ude00","user":"u","value":1})");
  ASSERT_EQ(c.status, LineStatus::kValid);
  EXPECT_EQ(c.type, "\xf0\x9f\x98\x80");
}

TEST(EventParser, EscapedKeyNamesCount) {
  auto c = check_line(R"({"t\u0073":"2026-01-01T00:00:00Z","type":"a","user":"u","value":1})");
  EXPECT_EQ(c.status, LineStatus::kValid);
}

TEST(EventParser, LoneHighSurrogateIsInvalidJson) {
  EXPECT_EQ(check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"\ud83d","user":"u","value":1})").status,
            LineStatus::kInvalidJson);
  EXPECT_EQ(check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"\ud83dx","user":"u","value":1})").status,
            LineStatus::kInvalidJson);
}

TEST(EventParser, LoneLowSurrogateIsInvalidJson) {
  EXPECT_EQ(check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"a","user":"u","value":1,"m":"\ude00"})").status,
            LineStatus::kInvalidJson);
}

TEST(EventParser, InvalidUtf8IsInvalidJson) {
  const std::string bad[] = {"\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
  for (const auto& b : bad) {
    EXPECT_EQ(check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"a)" + b + R"(","user":"u","value":1})").status,
              LineStatus::kInvalidJson)
        << "bytes of length " << b.size();
  }
  // Valid multi-byte text in an ignored field is fine.
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "1", ",\"m\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"")).status,
            LineStatus::kValid);
}

TEST(EventParser, RawControlCharacterInStringIsInvalidJson) {
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "1", ",\"m\":\"a\tb\"")).status, LineStatus::kInvalidJson);
}

TEST(EventParser, TimestampOffsets) {
  auto plus = check_line(ev("2026-01-01T01:00:00+01:00", "1"));
  ASSERT_EQ(plus.status, LineStatus::kValid);
  EXPECT_EQ(plus.event.epoch, 1767225600);
  auto minus = check_line(ev("2025-12-31T19:30:00-04:30", "1"));
  ASSERT_EQ(minus.status, LineStatus::kValid);
  EXPECT_EQ(minus.event.epoch, 1767225600);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00+24:00", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00+01:60", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00+0100", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01t00:00:00Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01 00:00:00Z", "1")).status, LineStatus::kInvalidEvent);
}

TEST(EventParser, TimestampFractions) {
  auto one = check_line(ev("2026-01-01T00:00:00.5Z", "1"));
  ASSERT_EQ(one.status, LineStatus::kValid);
  EXPECT_EQ(one.event.epoch, 1767225600);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:59.999999999Z", "1")).event.epoch, 1767225659);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00.1234567890Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00.Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00,5Z", "1")).status, LineStatus::kInvalidEvent);
}

TEST(EventParser, TimestampsBefore1970FloorFractions) {
  auto c = check_line(ev("1969-12-31T23:59:59.900Z", "1"));
  ASSERT_EQ(c.status, LineStatus::kValid);
  EXPECT_EQ(c.event.epoch, -1);
  EXPECT_EQ(check_line(ev("1969-12-31T23:59:00Z", "1")).event.epoch, -60);
}

TEST(EventParser, LeapDays) {
  EXPECT_EQ(check_line(ev("2024-02-29T00:00:00Z", "1")).status, LineStatus::kValid);
  EXPECT_EQ(check_line(ev("2023-02-29T00:00:00Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2000-02-29T00:00:00Z", "1")).status, LineStatus::kValid);
  EXPECT_EQ(check_line(ev("1900-02-29T00:00:00Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-04-31T00:00:00Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-13-01T00:00:00Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T24:00:00Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T23:60:00Z", "1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T23:59:60Z", "1")).status, LineStatus::kInvalidEvent);
}

TEST(EventParser, ValueAtInt32Limits) {
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "2147483647")).event.value, 2147483647);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "-2147483648")).event.value, INT32_MIN);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "2147483648")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "-2147483649")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "99999999999999999999999")).status, LineStatus::kInvalidEvent);
}

TEST(EventParser, NegativeZeroIsAnInteger) {
  auto c = check_line(ev("2026-01-01T00:00:00Z", "-0"));
  ASSERT_EQ(c.status, LineStatus::kValid);
  EXPECT_EQ(c.event.value, 0);
}

TEST(EventParser, FractionValueIsInvalidEvent) {
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "42.0")).status, LineStatus::kInvalidEvent);
}

TEST(EventParser, ExponentValueIsInvalidEvent) {
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "4.2e1")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "42e0")).status, LineStatus::kInvalidEvent);
}

TEST(EventParser, HugeNumberIsValidJsonButNotValue) {
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "1e400")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "1", ",\"m\":1e400")).status, LineStatus::kValid);
}

TEST(EventParser, MalformedNumbersAreInvalidJson) {
  for (const char* v : {"01", "+1", "1.", ".5", "1e", "-", "NaN", "Infinity", "-Infinity", "0x10"}) {
    EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", v)).status, LineStatus::kInvalidJson) << v;
  }
}

TEST(EventParser, ValueOfWrongTypeIsInvalidEvent) {
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "\"42\"")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "null")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(R"({"ts":"2026-01-01T00:00:00Z","type":1,"user":"u","value":1})").status,
            LineStatus::kInvalidEvent);
}

TEST(EventParser, DuplicateKeys) {
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "1", ",\"value\":2")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "1", ",\"type\":\"click\"")).status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "1", ",\"t\\u0073\":\"2026-01-01T00:00:00Z\"")).status,
            LineStatus::kInvalidEvent);
  // Duplicates of other keys are fine.
  EXPECT_EQ(check_line(ev("2026-01-01T00:00:00Z", "1", ",\"m\":1,\"m\":2")).status, LineStatus::kValid);
}

TEST(EventParser, MissingOrEmptyFieldsAreInvalidEvent) {
  EXPECT_EQ(check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"a","user":"u"})").status, LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"","user":"u","value":1})").status,
            LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line(R"({"ts":"2026-01-01T00:00:00Z","type":"a","user":"","value":1})").status,
            LineStatus::kInvalidEvent);
  EXPECT_EQ(check_line("{}").status, LineStatus::kInvalidEvent);
}

TEST(EventParser, NonObjectJsonIsInvalidEvent) {
  for (const char* l : {"[]", "1", "\"x\"", "null", "true", "[{\"ts\":1}]"}) {
    EXPECT_EQ(check_line(l).status, LineStatus::kInvalidEvent) << l;
  }
}

TEST(EventParser, NonJsonIsInvalidJson) {
  for (const char* l : {"{", "{\"ts\"}", "hello", "{\"a\":1,}", "{\"a\":1} x", "{'a':1}", "[1,]", "{\"a\":tru}",
                        "{\"a\":1}{}", "\"\\x\""}) {
    EXPECT_EQ(check_line(l).status, LineStatus::kInvalidJson) << l;
  }
}

std::string nested(int levels) {
  // `levels` total containers including the top-level object.
  std::string open, close;
  for (int i = 1; i < levels; ++i) {
    open += i % 2 ? "[" : "{\"k\":";
    close = (i % 2 ? "]" : "}") + close;
  }
  return ev("2026-01-01T00:00:00Z", "1", ",\"metadata\":" + (open.empty() ? std::string("0") : open + "0" + close));
}

TEST(EventParser, Nesting64LevelsIsFine) {
  EXPECT_EQ(check_line(nested(64)).status, LineStatus::kValid);
}

TEST(EventParser, Nesting65LevelsIsInvalidJson) {
  EXPECT_EQ(check_line(nested(65)).status, LineStatus::kInvalidJson);
  std::string arr(65, '[');
  arr += std::string(65, ']');
  EXPECT_EQ(check_line(arr).status, LineStatus::kInvalidJson);
  std::string arr64(64, '[');
  arr64 += std::string(64, ']');
  EXPECT_EQ(check_line(arr64).status, LineStatus::kInvalidEvent);
}

TEST(EventParser, JsonErrorWinsOverEventError) {
  EXPECT_EQ(check_line(R"({"ts":1,"ts":2,"value":1.5,)").status, LineStatus::kInvalidJson);
}

}  // namespace
}  // namespace mr
