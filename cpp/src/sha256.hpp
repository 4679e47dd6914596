// SHA-256 (FIPS 180-4), used for the run checksum of results.json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mr {

// Incremental hasher: update() any number of times, then hex() once.
class Sha256 {
 public:
  // use_openssl=false forces the portable implementation (tests cover both paths).
  explicit Sha256(bool use_openssl = true);
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex();  // finishes the hash; lower-case hex digest

 private:
  void* ossl_ = nullptr;  // EVP_MD_CTX* when built with OpenSSL (hardware SHA extensions)
  std::uint32_t h_[8];
  unsigned char buf_[64];
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

// Lower-case hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace mr
