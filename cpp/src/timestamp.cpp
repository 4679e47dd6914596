// Calendar math uses the classic era-based civil-date formulas (valid for negative years).
#include "timestamp.hpp"

#include <charconv>

namespace mr {
namespace {

inline bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

inline unsigned days_in_month(std::int64_t y, unsigned m) {
  static const unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

inline bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned* out) {
  unsigned v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *out = v;
  return true;
}

inline std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = floor_div(y, 400);
  const std::int64_t yoe = y - era * 400;                                       // [0, 399]
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;             // [0, 146096]
  return era * 146097 + doe - 719468;
}

bool parse_timestamp(std::string_view s, std::int64_t* epoch_seconds) {
  // Fixed part: YYYY-MM-DDTHH:MM:SS (19 bytes), then optional fraction, then zone.
  if (s.size() < 20) return false;
  unsigned year, month, day, hour, minute, second;
  if (!digits(s, 0, 4, &year) || s[4] != '-' || !digits(s, 5, 2, &month) || s[7] != '-' ||
      !digits(s, 8, 2, &day) || s[10] != 'T' || !digits(s, 11, 2, &hour) || s[13] != ':' ||
      !digits(s, 14, 2, &minute) || s[16] != ':' || !digits(s, 17, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 59) return false;
  std::size_t pos = 19;
  if (s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    const std::size_t n = pos - start;
    if (n < 1 || n > 9) return false;
  }
  if (pos >= s.size()) return false;
  std::int64_t offset = 0;
  if (s[pos] == 'Z') {
    if (pos + 1 != s.size()) return false;
  } else if (s[pos] == '+' || s[pos] == '-') {
    unsigned oh, om;
    if (s.size() - pos != 6 || !digits(s, pos + 1, 2, &oh) || s[pos + 3] != ':' || !digits(s, pos + 4, 2, &om))
      return false;
    if (oh > 23 || om > 59) return false;
    offset = static_cast<std::int64_t>(oh) * 3600 + om * 60;
    if (s[pos] == '-') offset = -offset;
  } else {
    return false;
  }
  const std::int64_t days = days_from_civil(year, month, day);
  *epoch_seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset;
  return true;
}

std::int64_t window_start(std::int64_t epoch_seconds, std::int64_t window_seconds) {
  return floor_div(epoch_seconds, window_seconds) * window_seconds;
}

void append_utc(std::string& out, std::int64_t epoch_seconds) {
  std::int64_t days = floor_div(epoch_seconds, 86400);
  std::int64_t sod = epoch_seconds - days * 86400;
  // civil_from_days
  days += 719468;
  const std::int64_t era = floor_div(days, 146097);
  const std::int64_t doe = days - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const unsigned d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const unsigned m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  const std::int64_t y = yoe + era * 400 + (m <= 2);

  char buf[48];
  char* p = buf;
  std::int64_t ay = y;
  if (y < 0) {
    *p++ = '-';
    ay = -y;
  }
  char ybuf[24];
  auto r = std::to_chars(ybuf, ybuf + sizeof ybuf, ay);
  for (std::ptrdiff_t pad = 4 - (r.ptr - ybuf); pad > 0; --pad) *p++ = '0';
  for (char* q = ybuf; q < r.ptr; ++q) *p++ = *q;
  auto two = [&](unsigned v) {
    *p++ = static_cast<char>('0' + v / 10);
    *p++ = static_cast<char>('0' + v % 10);
  };
  *p++ = '-';
  two(m);
  *p++ = '-';
  two(d);
  *p++ = 'T';
  two(static_cast<unsigned>(sod / 3600));
  *p++ = ':';
  two(static_cast<unsigned>(sod / 60 % 60));
  *p++ = ':';
  two(static_cast<unsigned>(sod % 60));
  *p++ = 'Z';
  out.append(buf, static_cast<std::size_t>(p - buf));
}

}  // namespace mr
