// The `ts` grammar of DESIGN.md §4.2 and UTC calendar arithmetic for window starts.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mr {

// Days since 1970-01-01 of a proleptic Gregorian date (any year).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d);

// Parses `YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)`; on success stores the epoch seconds with the
// fraction cut (floor). Returns false on any deviation from the grammar or an impossible date.
bool parse_timestamp(std::string_view s, std::int64_t* epoch_seconds);

// floor(epoch / window) * window.
std::int64_t window_start(std::int64_t epoch_seconds, std::int64_t window_seconds);

// Appends `YYYY-MM-DDTHH:MM:SSZ` (UTC). Years outside 0..9999 get a sign / more digits.
void append_utc(std::string& out, std::int64_t epoch_seconds);

}  // namespace mr
