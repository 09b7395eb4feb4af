// A float64 .npy file (format 1.0, C order) of any shape, for tests that
// feed attnmc sequences, matrices or labels the way NumPy would write them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace attnmc::test {

inline void write_npy(const std::filesystem::path& p, const std::vector<long long>& shape,
                      const std::vector<double>& v) {
  std::string dims;
  for (long long d : shape) dims += std::to_string(d) + ",";
  if (shape.size() > 1) dims.pop_back();  // (3,) for one dimension, (2, 3) otherwise
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream f(p, std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  const std::uint16_t len = std::uint16_t(header.size());
  f.write(reinterpret_cast<const char*>(&len), 2);
  f << header;
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(double)));
}

}  // namespace attnmc::test
