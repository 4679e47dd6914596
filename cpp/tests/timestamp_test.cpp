// Calendar math and window formatting.
#include <gtest/gtest.h>

#include "timestamp.hpp"

namespace mr {
namespace {

std::string utc(std::int64_t s) {
  std::string out;
  append_utc(out, s);
  return out;
}

TEST(Timestamp, DaysFromCivil) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(days_from_civil(0, 1, 1), -719528);
}

TEST(Timestamp, FormatsUtc) {
  EXPECT_EQ(utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(utc(-1), "1969-12-31T23:59:59Z");
  EXPECT_EQ(utc(1709164800), "2024-02-29T00:00:00Z");
  EXPECT_EQ(utc(days_from_civil(0, 1, 1) * 86400), "0000-01-01T00:00:00Z");
  EXPECT_EQ(utc(days_from_civil(9999, 12, 31) * 86400 + 86399), "9999-12-31T23:59:59Z");
}

TEST(Timestamp, RoundTripsEveryDayOfFourHundredYears) {
  for (std::int64_t d = days_from_civil(1900, 1, 1); d < days_from_civil(2300, 1, 1); d += 1) {
    std::string s = utc(d * 86400 + 3723);
    std::int64_t back = 0;
    ASSERT_TRUE(parse_timestamp(s, &back)) << s;
    ASSERT_EQ(back, d * 86400 + 3723) << s;
  }
}

TEST(Timestamp, WindowStartFloorsNegatives) {
  EXPECT_EQ(window_start(59, 60), 0);
  EXPECT_EQ(window_start(60, 60), 60);
  EXPECT_EQ(window_start(-1, 60), -60);
  EXPECT_EQ(window_start(-60, 60), -60);
  EXPECT_EQ(window_start(-61, 60), -120);
  EXPECT_EQ(window_start(3599, 3600), 0);
}

TEST(Timestamp, YearZeroAndOffsetAcrossIt) {
  std::int64_t e = 0;
  ASSERT_TRUE(parse_timestamp("0000-01-01T00:00:00Z", &e));
  EXPECT_EQ(utc(e), "0000-01-01T00:00:00Z");
  ASSERT_TRUE(parse_timestamp("0000-01-01T00:00:00+01:00", &e));
  EXPECT_EQ(utc(e), "-0001-12-31T23:00:00Z");
}

}  // namespace
}  // namespace mr
