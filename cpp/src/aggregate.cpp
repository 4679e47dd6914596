// Aggregation maps, partition merge and the canonical results writer.
#include "aggregate.hpp"

#include <algorithm>
#include <charconv>

#include "json_core.hpp"
#include "timestamp.hpp"

namespace mr {

std::string_view Arena::store(std::string_view s) {
  if (blocks_.empty() || s.size() > cap_ - used_) {
    std::size_t n = std::max<std::size_t>(64 * 1024, s.size());
    blocks_.push_back(std::make_unique<char[]>(n));
    used_ = 0;
    cap_ = n;
  }
  char* dst = blocks_.back().get() + used_;
  if (!s.empty()) std::memcpy(dst, s.data(), s.size());
  used_ += s.size();
  return {dst, s.size()};
}

StatsMap::StatsMap() : slots_(64), mask_(63) {}

Stats& StatsMap::upsert(std::uint64_t hash, std::int64_t tag, std::string_view key) {
  std::size_t i = hash & mask_;
  for (;;) {
    Slot& s = slots_[i];
    if (s.key == nullptr) break;
    if (s.hash == hash && s.tag == tag && s.len == key.size() && std::memcmp(s.key, key.data(), key.size()) == 0)
      return s.stats;
    i = (i + 1) & mask_;
  }
  if ((size_ + 1) * 2 > slots_.size()) {
    grow();
    i = hash & mask_;
    while (slots_[i].key != nullptr) i = (i + 1) & mask_;
  }
  Slot& s = slots_[i];
  std::string_view stored = arena_.store(key);
  s.key = stored.data();
  s.len = static_cast<std::uint32_t>(key.size());
  s.hash = hash;
  s.tag = tag;
  ++size_;
  return s.stats;
}

void StatsMap::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.key == nullptr) continue;
    std::size_t i = s.hash & mask_;
    while (slots_[i].key != nullptr) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

namespace {

void merge_sorted(std::vector<KeyRow>& rows) {
  std::sort(rows.begin(), rows.end(), [](const KeyRow& a, const KeyRow& b) { return a.key < b.key; });
  std::size_t out = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (out > 0 && rows[out - 1].key == rows[i].key) {
      rows[out - 1].stats.merge(rows[i].stats);
    } else {
      if (out != i) rows[out] = std::move(rows[i]);
      ++out;
    }
  }
  rows.resize(out);
}

void gather(const StatsMap& m, std::vector<KeyRow>& rows) {
  m.for_each([&](std::int64_t, std::string_view k, const Stats& s) { rows.push_back({std::string(k), s}); });
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_rows(std::string& out, const char* name, const std::vector<KeyRow>& rows) {
  out += ",\"";
  out += name;
  out += "\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i > 0) out.push_back(',');
    const Stats& s = rows[i].stats;
    out += "{\"key\":";
    append_json_string(out, rows[i].key);
    out += ",\"count\":";
    append_int(out, s.count);
    out += ",\"sum\":";
    append_int(out, s.sum);
    out += ",\"min\":";
    append_int(out, s.min);
    out += ",\"max\":";
    append_int(out, s.max);
    out.push_back('}');
  }
  out.push_back(']');
}

}  // namespace

ResultSet collect_results(const Counts& counts, const std::vector<std::unique_ptr<Partition>>& parts,
                          const std::vector<std::string>& tag_keys) {
  ResultSet r;
  r.counts = counts;
  for (const auto& p : parts) {
    gather(p->by_type, r.by_type);
    gather(p->by_user, r.by_user);
    for (std::size_t i = 0; i < p->by_tag.size(); ++i) {
      if (p->by_tag[i].count > 0) r.by_tag.push_back({tag_keys[i], p->by_tag[i]});
    }
    p->by_window.for_each([&](std::int64_t start, std::string_view type, const Stats& s) {
      r.by_window.push_back({start, std::string(type), s});
    });
  }
  merge_sorted(r.by_type);
  merge_sorted(r.by_user);
  merge_sorted(r.by_tag);
  std::sort(r.by_window.begin(), r.by_window.end(), [](const WindowRow& a, const WindowRow& b) {
    return a.start != b.start ? a.start < b.start : a.type < b.type;
  });
  std::size_t out = 0;
  for (std::size_t i = 0; i < r.by_window.size(); ++i) {
    if (out > 0 && r.by_window[out - 1].start == r.by_window[i].start && r.by_window[out - 1].type == r.by_window[i].type) {
      r.by_window[out - 1].stats.merge(r.by_window[i].stats);
    } else {
      if (out != i) r.by_window[out] = std::move(r.by_window[i]);
      ++out;
    }
  }
  r.by_window.resize(out);
  return r;
}

std::string render_results(const ResultSet& r) {
  std::string out;
  out.reserve(256 + 96 * (r.by_type.size() + r.by_user.size() + r.by_tag.size() + r.by_window.size()));
  out += "{\"version\":1,\"counts\":{\"lines\":";
  append_int(out, r.counts.lines);
  out += ",\"valid\":";
  append_int(out, r.counts.valid);
  out += ",\"invalid\":";
  append_int(out, r.counts.invalid);
  out += ",\"dropped\":";
  append_int(out, r.counts.dropped);
  out += ",\"aggregated\":";
  append_int(out, r.counts.aggregated);
  out.push_back('}');
  append_rows(out, "byType", r.by_type);
  append_rows(out, "byUser", r.by_user);
  append_rows(out, "byTag", r.by_tag);
  out += ",\"byWindow\":[";
  for (std::size_t i = 0; i < r.by_window.size(); ++i) {
    if (i > 0) out.push_back(',');
    const WindowRow& w = r.by_window[i];
    out += "{\"start\":\"";
    append_utc(out, w.start);
    out += "\",\"type\":";
    append_json_string(out, w.type);
    out += ",\"count\":";
    append_int(out, w.stats.count);
    out += ",\"sum\":";
    append_int(out, w.stats.sum);
    out.push_back('}');
  }
  out += "]}\n";
  return out;
}

}  // namespace mr
