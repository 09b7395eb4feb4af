// Small checked helpers over the HDF5 C API (every failed call becomes an
// Error): RAII ids, datasets and attributes written without timestamps (the
// same content gives the same bytes), and the matching readers.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace attnmc::h5 {

struct Id {
  hid_t id;
  herr_t (*close)(hid_t);
  Id(hid_t i, herr_t (*c)(hid_t), const std::string& what);
  ~Id() { close(id); }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
};

void check(herr_t status, const std::string& what);

// Writes a dataset (any dimension may be 0).
void write(hid_t loc, const char* name, hid_t mem_type, hid_t file_type,
           const std::vector<hsize_t>& dims, const void* data);
void write_doubles(hid_t loc, const char* name, const std::vector<hsize_t>& dims,
                   const std::vector<double>& v);
void write_int64s(hid_t loc, const char* name, const std::vector<hsize_t>& dims,
                  const std::vector<std::int64_t>& v);
void write_uint64s(hid_t loc, const char* name, const std::vector<std::uint64_t>& v);

// A 1-d dataset of n elements written in consecutive slices, first to last
// (the same file bytes as one write of the whole): a writer that produces
// its data piece by piece holds one piece, not the whole.
class Slices {
 public:
  Slices(hid_t loc, const char* name, hid_t mem_type, hid_t file_type, hsize_t n);
  void append(const void* data, hsize_t count);  // throws Error beyond n

 private:
  std::string name_;
  hid_t mem_type_;
  hsize_t n_, next_ = 0;
  Id space_, set_;
};

// A group without timestamps.
hid_t create_group(hid_t loc, const char* name);

void attribute_string(hid_t obj, const char* name, const std::string& value);
void attribute_u64(hid_t obj, const char* name, std::uint64_t value);
void attribute_i32(hid_t obj, const char* name, int value);
void attribute_f64(hid_t obj, const char* name, double value);
void attribute_doubles(hid_t obj, const char* name, const std::vector<double>& v);

// Readers: throw Error naming the object when it is missing or of the wrong shape.
bool exists(hid_t loc, const char* name);
std::vector<hsize_t> dims(hid_t loc, const char* name);
std::vector<std::int64_t> read_int64s(hid_t loc, const char* name);
std::vector<std::uint64_t> read_uint64s(hid_t loc, const char* name);
std::vector<double> read_doubles(hid_t loc, const char* name);
std::vector<float> read_floats(hid_t loc, const char* name);
std::vector<int> read_ints(hid_t loc, const char* name);
std::string read_attribute_string(hid_t obj, const char* name);
std::uint64_t read_attribute_u64(hid_t obj, const char* name);
int read_attribute_i32(hid_t obj, const char* name);
double read_attribute_f64(hid_t obj, const char* name);

}  // namespace attnmc::h5
