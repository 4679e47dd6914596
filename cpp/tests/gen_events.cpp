// Local benchmark input generator (the official one is `pnpm pipeline generate`).
//   gen_events N OUT [USERS=100000] [SEED=1] [INVALID_PER_MILLE=0]
// Writes N lines shaped like the typical event of the design, deterministic for a seed.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: gen_events N OUT [USERS] [SEED] [INVALID_PER_MILLE]\n");
    return 2;
  }
  const long long n = std::atoll(argv[1]);
  const long long users = argc > 3 ? std::atoll(argv[3]) : 100000;
  std::uint64_t s = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1;
  const long long bad = argc > 5 ? std::atoll(argv[5]) : 0;
  std::FILE* f = std::fopen(argv[2], "wb");
  if (f == nullptr) return 1;
  std::setvbuf(f, nullptr, _IOFBF, 1 << 22);
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(s >> 33);
  };
  const char* types[] = {"click", "view", "purchase", "scroll", "signup", "logout"};
  const char* pages[] = {"/home", "/cart", "/search", "/product/42", "/checkout"};
  char line[512];
  long long t = 0;
  for (long long i = 0; i < n; ++i) {
    if (bad > 0 && static_cast<long long>(next() % 1000) < bad) {
      std::fputs(i % 2 ? "{\"ts\":\"2026-03-01T12:00:00Z\",\"type\":\"click\"}\n" : "{not json\n", f);
      continue;
    }
    t += next() % 3;
    const long long sec = t / 10;
    int len = std::snprintf(line, sizeof line,
                            "{\"ts\":\"2026-03-%02lldT%02lld:%02lld:%02lld.%03uZ\",\"type\":\"%s\",\"user\":\"u%06llu\","
                            "\"value\":%u,\"metadata\":{\"page\":\"%s\",\"session\":\"s%u\"}}\n",
                            1 + (sec / 86400) % 28, (sec / 3600) % 24, (sec / 60) % 60, sec % 60, next() % 1000,
                            types[next() % 6], static_cast<unsigned long long>(next() % users), next() % 200,
                            pages[next() % 5], next() % 1000);
    std::fwrite(line, 1, static_cast<std::size_t>(len), f);
  }
  return std::fclose(f) == 0 ? 0 : 1;
}
