// Aggregation state, partitioned by key hash. A record's user row lives in partition
// hash(user) and its window row in partition hash(window start, type), so each partition owns
// its users and windows outright: those rows never meet across partitions and are only sorted
// per partition and merged as sorted runs when written. byType and byTag (a handful of keys)
// are kept as partial rows in the window partition and summed at the end. A partition is
// touched by one thread at a time (its own mutex, taken once per batch slice, never per event).
#pragma once

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sha256.hpp"

namespace mr {

inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline std::uint64_t hash_bytes(std::string_view s) {
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0x9ddfea08eb382d69ULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x9ddfea08eb382d69ULL;
  }
  return mix64(h);
}

inline std::uint64_t window_hash(std::int64_t start, std::uint64_t type_hash) {
  return mix64(type_hash ^ (static_cast<std::uint64_t>(start) * 0x9E3779B97F4A7C15ULL));
}

// Maps a hash to one of n partitions (uses the high bits; tables use the low bits).
inline std::size_t partition_of(std::uint64_t hash, std::size_t n) {
  return static_cast<std::size_t>(((hash >> 32) * n) >> 32);
}

struct Stats {
  std::int64_t count = 0;
  std::int64_t sum = 0;
  std::int32_t min = INT32_MAX;
  std::int32_t max = INT32_MIN;

  void add(std::int32_t v) {
    ++count;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  void merge(const Stats& o) {
    count += o.count;
    sum += o.sum;
    if (o.min < min) min = o.min;
    if (o.max > max) max = o.max;
  }
};

// Bump allocator for interned keys; keys never move once stored.
class Arena {
 public:
  const char* store(std::string_view s);

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::size_t used_ = 0, cap_ = 0;
};

struct KeySlot {
  std::uint64_t hash = 0;
  const char* key = nullptr;  // interned in the map's arena; nullptr = empty slot
  std::uint32_t len = 0;
  Stats stats;
  std::string_view view() const { return {key, len}; }
};

// Open-addressing map from a string key to Stats. Keys are copied on first sight only.
class StatsMap {
 public:
  StatsMap();
  KeySlot& upsert(std::uint64_t hash, std::string_view key);
  std::size_t size() const { return size_; }
  const std::vector<KeySlot>& slots() const { return slots_; }

 private:
  void grow();
  std::vector<KeySlot> slots_;
  std::size_t mask_ = 0, size_ = 0;
  Arena arena_;
};

struct WindowSlot {
  std::int64_t start = 0;
  const char* type = nullptr;  // interned by the partition's byType map; nullptr = empty
  std::uint32_t type_len = 0;
  std::int64_t count = 0;
  std::int64_t sum = 0;
  std::string_view type_view() const { return {type, type_len}; }
};

// (window start, interned type) -> count/sum. Interned type pointers make key equality cheap.
class WindowMap {
 public:
  WindowMap();
  WindowSlot& upsert(std::uint64_t hash, std::int64_t start, const char* type, std::uint32_t type_len);
  std::size_t size() const { return size_; }
  const std::vector<WindowSlot>& slots() const { return slots_; }

 private:
  void grow();
  std::vector<WindowSlot> slots_;
  std::size_t mask_ = 0, size_ = 0;
};

struct Partition {
  std::mutex mu;
  StatsMap by_type, by_user;
  WindowMap by_window;
  std::vector<Stats> by_tag;  // indexed by Rules::tag_keys pair id
};

struct Counts {
  std::int64_t lines = 0, valid = 0, invalid = 0, dropped = 0, aggregated = 0;
  void merge(const Counts& o) {
    lines += o.lines;
    valid += o.valid;
    invalid += o.invalid;
    dropped += o.dropped;
    aggregated += o.aggregated;
  }
};

struct KeyRow {
  std::string_view key;
  Stats stats;
};

// A window row's sort key: start, then the rank of its type among all types (by bytes), so
// sorting compares integers instead of chasing pointers.
struct WindowRef {
  std::int64_t start;
  std::uint32_t type_rank;
  const WindowSlot* slot;
  bool operator<(const WindowRef& o) const { return start != o.start ? start < o.start : type_rank < o.type_rank; }
};

// Everything results.json needs, sorted; views into the partitions and the tag keys (keep
// both alive while the result set is used).
struct ResultSet {
  Counts counts;
  std::vector<KeyRow> by_type, by_tag;                    // merged across partitions
  std::vector<std::vector<const KeySlot*>> user_runs;     // one sorted run per partition
  std::vector<std::vector<WindowRef>> window_runs;
};

// Sorts each partition's rows (using up to `threads` threads) and merges the small groups.
ResultSet collect_results(const Counts& counts, const std::vector<std::unique_ptr<Partition>>& parts,
                          const std::vector<std::string>& tag_keys, int threads);

// Streams the canonical results.json text of DESIGN.md §4.4 (with its trailing newline) to
// `file` (or into `text` when file is null) and returns its SHA-256 hex digest.
std::string write_results(const ResultSet& r, std::FILE* file, std::string* text);

// Convenience for tests: the canonical text.
std::string render_results(const ResultSet& r);

}  // namespace mr
