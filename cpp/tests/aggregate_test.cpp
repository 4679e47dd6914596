// Canonical results writer, key escaping, sorting and partition merging.
#include <gtest/gtest.h>

#include "aggregate.hpp"
#include "json_core.hpp"
#include "sha256.hpp"

namespace mr {
namespace {

TEST(CanonicalWriter, EmptyResults) {
  ResultSet r;
  EXPECT_EQ(render_results(r),
            "{\"version\":1,\"counts\":{\"lines\":0,\"valid\":0,\"invalid\":0,\"dropped\":0,\"aggregated\":0},"
            "\"byType\":[],\"byUser\":[],\"byTag\":[],\"byWindow\":[]}\n");
}

TEST(CanonicalWriter, StringsEscapeOnlyQuoteBackslashAndControls) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c/d\x7f\x01\x1f\n\xc3\xa9", 13));
  EXPECT_EQ(out, "\"a\\\"b\\\\c/d\x7f\\u0001\\u001f\\u000a\xc3\xa9\"");
  out.clear();
  append_json_string(out, std::string("\0", 1));
  EXPECT_EQ(out, "\"\\u0000\"");
}

TEST(CanonicalWriter, RowsAndWindows) {
  ResultSet r;
  r.counts = {3, 2, 1, 0, 2};
  Stats s;
  s.add(5);
  s.add(-7);
  r.by_type.push_back({"cl\"ick", s});
  r.by_window.push_back({-60, "x", s});
  EXPECT_EQ(render_results(r),
            "{\"version\":1,\"counts\":{\"lines\":3,\"valid\":2,\"invalid\":1,\"dropped\":0,\"aggregated\":2},"
            "\"byType\":[{\"key\":\"cl\\\"ick\",\"count\":2,\"sum\":-2,\"min\":-7,\"max\":5}],\"byUser\":[],"
            "\"byTag\":[],\"byWindow\":[{\"start\":\"1969-12-31T23:59:00Z\",\"type\":\"x\",\"count\":2,\"sum\":-2}]}\n");
}

TEST(CanonicalWriter, MergesPartitionsAndSortsByBytes) {
  std::vector<std::unique_ptr<Partition>> parts;
  for (int i = 0; i < 2; ++i) {
    parts.push_back(std::make_unique<Partition>());
    parts.back()->by_tag.resize(1);
  }
  auto add = [&](int p, std::string_view type, std::string_view user, std::int64_t win, int v) {
    parts[p]->by_type.upsert(hash_bytes(type), 0, type).add(v);
    parts[p]->by_user.upsert(hash_bytes(user), 0, user).add(v);
    parts[p]->by_window.upsert(hash_bytes(type) ^ static_cast<std::uint64_t>(win), win, type).add(v);
    parts[p]->by_tag[0].add(v);
  };
  add(0, "b", "\xc3\xa9", 60, 1);
  add(1, "b", "Z", 0, 2);
  add(1, "a", "z", 60, 3);
  add(0, "B", "z2", 60, 4);
  ResultSet r = collect_results({4, 4, 0, 0, 4}, parts, {"tier=x"});
  ASSERT_EQ(r.by_type.size(), 3u);
  EXPECT_EQ(r.by_type[0].key, "B");
  EXPECT_EQ(r.by_type[1].key, "a");
  EXPECT_EQ(r.by_type[2].key, "b");
  EXPECT_EQ(r.by_type[2].stats.count, 2);
  EXPECT_EQ(r.by_type[2].stats.sum, 3);
  ASSERT_EQ(r.by_user.size(), 4u);
  EXPECT_EQ(r.by_user.back().key, "\xc3\xa9");  // bytes >= 0x80 sort after ASCII
  ASSERT_EQ(r.by_tag.size(), 1u);
  EXPECT_EQ(r.by_tag[0].stats.count, 4);
  ASSERT_EQ(r.by_window.size(), 4u);
  EXPECT_EQ(r.by_window[0].start, 0);
  EXPECT_EQ(r.by_window[1].type, "B");
  EXPECT_EQ(r.by_window[2].type, "a");
  EXPECT_EQ(r.by_window[3].type, "b");
  EXPECT_EQ(r.by_window[3].start, 60);
}

TEST(StatsMap, GrowsAndKeepsKeys) {
  StatsMap m;
  for (int i = 0; i < 10000; ++i) {
    std::string k = "user" + std::to_string(i);
    m.upsert(hash_bytes(k), 0, k).add(i);
  }
  for (int i = 0; i < 10000; ++i) {
    std::string k = "user" + std::to_string(i);
    m.upsert(hash_bytes(k), 0, k).add(1);
  }
  EXPECT_EQ(m.size(), 10000u);
  std::int64_t total = 0;
  m.for_each([&](std::int64_t, std::string_view, const Stats& s) { total += s.count; });
  EXPECT_EQ(total, 20000);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace mr
