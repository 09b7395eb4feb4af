// SHA-256 through OpenSSL's EVP interface.
#include "host/checksum.hpp"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "attnmc/error.hpp"

namespace attnmc {
namespace {

std::string hex(const unsigned char* p, unsigned n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

struct Digest {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Digest() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Digest() { EVP_MD_CTX_free(ctx); }
  void add(const void* p, std::size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::string hex_digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    return hex(md, n);
  }
};

}  // namespace

std::string sha256_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path + ": " + std::strerror(errno));
  Digest d;
  char buf[1 << 16];
  while (f) {
    f.read(buf, sizeof buf);
    d.add(buf, std::size_t(f.gcount()));
  }
  return d.hex_digest();
}

std::string sha256_text(const std::string& text) {
  Digest d;
  d.add(text.data(), text.size());
  return d.hex_digest();
}

}  // namespace attnmc
