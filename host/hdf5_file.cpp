#include "host/hdf5_file.hpp"

#include "attnmc/error.hpp"

namespace attnmc::h5 {

Id::Id(hid_t i, herr_t (*c)(hid_t), const std::string& what) : id(i), close(c) {
  if (id < 0) throw Error("HDF5: " + what + " failed");
}

void check(herr_t status, const std::string& what) {
  if (status < 0) throw Error("HDF5: " + what + " failed");
}

namespace {
hid_t create_dataset(hid_t loc, const char* name, hid_t file_type, hid_t space) {
  // No modification times in object headers: the same run gives the same bytes.
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, name);
  check(H5Pset_obj_track_times(dcpl.id, false), name);
  return H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, dcpl.id, H5P_DEFAULT);
}
}  // namespace

void write(hid_t loc, const char* name, hid_t mem_type, hid_t file_type,
           const std::vector<hsize_t>& dims, const void* data) {
  Id space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose, name);
  Id set(create_dataset(loc, name, file_type, space.id), H5Dclose, name);
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (n > 0) check(H5Dwrite(set.id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), name);
}

Slices::Slices(hid_t loc, const char* name, hid_t mem_type, hid_t file_type, hsize_t n)
    : name_(name),
      mem_type_(mem_type),
      n_(n),
      space_(H5Screate_simple(1, &n, nullptr), H5Sclose, name),
      set_(create_dataset(loc, name, file_type, space_.id), H5Dclose, name) {}

void Slices::append(const void* data, hsize_t count) {
  if (count == 0) return;
  if (count > n_ - next_) throw Error("HDF5: " + name_ + ": more elements than the dataset has");
  check(H5Sselect_hyperslab(space_.id, H5S_SELECT_SET, &next_, nullptr, &count, nullptr), name_);
  Id memory(H5Screate_simple(1, &count, nullptr), H5Sclose, name_);
  check(H5Dwrite(set_.id, mem_type_, memory.id, space_.id, H5P_DEFAULT, data), name_);
  next_ += count;
}

void write_doubles(hid_t loc, const char* name, const std::vector<hsize_t>& dims,
                   const std::vector<double>& v) {
  write(loc, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, dims, v.data());
}

void write_int64s(hid_t loc, const char* name, const std::vector<hsize_t>& dims,
                  const std::vector<std::int64_t>& v) {
  write(loc, name, H5T_NATIVE_INT64, H5T_STD_I64LE, dims, v.data());
}

void write_uint64s(hid_t loc, const char* name, const std::vector<std::uint64_t>& v) {
  write(loc, name, H5T_NATIVE_UINT64, H5T_STD_U64LE, {hsize_t(v.size())}, v.data());
}

hid_t create_group(hid_t loc, const char* name) {
  Id gcpl(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, name);
  check(H5Pset_obj_track_times(gcpl.id, false), name);
  const hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl.id, H5P_DEFAULT);
  if (g < 0) throw Error(std::string("HDF5: creating group ") + name + " failed");
  return g;
}

namespace {
template <typename T>
void scalar_attribute(hid_t obj, const char* name, hid_t mem_type, hid_t file_type, T value) {
  Id space(H5Screate(H5S_SCALAR), H5Sclose, name);
  Id attr(H5Acreate2(obj, name, file_type, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
  check(H5Awrite(attr.id, mem_type, &value), name);
}

template <typename T>
T read_scalar_attribute(hid_t obj, const char* name, hid_t mem_type) {
  if (H5Aexists(obj, name) <= 0)
    throw Error(std::string("stats file: attribute ") + name + " missing");
  Id attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, name);
  T value{};
  check(H5Aread(attr.id, mem_type, &value), name);
  return value;
}

template <typename T>
std::vector<T> read_all(hid_t loc, const char* name, hid_t mem_type) {
  if (!exists(loc, name)) throw Error(std::string("stats file: dataset ") + name + " missing");
  Id set(H5Dopen2(loc, name, H5P_DEFAULT), H5Dclose, name);
  Id space(H5Dget_space(set.id), H5Sclose, name);
  const hssize_t n = H5Sget_simple_extent_npoints(space.id);
  if (n < 0) throw Error(std::string("HDF5: size of ") + name);
  std::vector<T> v(static_cast<std::size_t>(n));
  if (n > 0) check(H5Dread(set.id, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), name);
  return v;
}
}  // namespace

// Variable-length UTF-8, so h5py reads it as str (fixed-length gives bytes).
void attribute_string(hid_t obj, const char* name, const std::string& value) {
  Id type(H5Tcopy(H5T_C_S1), H5Tclose, name);
  check(H5Tset_size(type.id, H5T_VARIABLE), name);
  check(H5Tset_cset(type.id, H5T_CSET_UTF8), name);
  Id space(H5Screate(H5S_SCALAR), H5Sclose, name);
  Id attr(H5Acreate2(obj, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, name);
  const char* text = value.c_str();
  check(H5Awrite(attr.id, type.id, &text), name);
}

void attribute_u64(hid_t obj, const char* name, std::uint64_t v) {
  scalar_attribute(obj, name, H5T_NATIVE_UINT64, H5T_STD_U64LE, v);
}
void attribute_i32(hid_t obj, const char* name, int v) {
  scalar_attribute(obj, name, H5T_NATIVE_INT, H5T_STD_I32LE, v);
}
void attribute_f64(hid_t obj, const char* name, double v) {
  scalar_attribute(obj, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, v);
}

void attribute_doubles(hid_t obj, const char* name, const std::vector<double>& v) {
  const hsize_t n = v.size();
  Id space(H5Screate_simple(1, &n, nullptr), H5Sclose, name);
  Id attr(H5Acreate2(obj, name, H5T_IEEE_F64LE, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
          name);
  check(H5Awrite(attr.id, H5T_NATIVE_DOUBLE, v.data()), name);
}

bool exists(hid_t loc, const char* name) { return H5Lexists(loc, name, H5P_DEFAULT) > 0; }

std::vector<hsize_t> dims(hid_t loc, const char* name) {
  Id set(H5Dopen2(loc, name, H5P_DEFAULT), H5Dclose, name);
  Id space(H5Dget_space(set.id), H5Sclose, name);
  const int rank = H5Sget_simple_extent_ndims(space.id);
  std::vector<hsize_t> d(std::size_t(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space.id, d.data(), nullptr);
  return d;
}

std::vector<std::int64_t> read_int64s(hid_t loc, const char* name) {
  return read_all<std::int64_t>(loc, name, H5T_NATIVE_INT64);
}
std::vector<std::uint64_t> read_uint64s(hid_t loc, const char* name) {
  return read_all<std::uint64_t>(loc, name, H5T_NATIVE_UINT64);
}
std::vector<double> read_doubles(hid_t loc, const char* name) {
  return read_all<double>(loc, name, H5T_NATIVE_DOUBLE);
}
std::vector<float> read_floats(hid_t loc, const char* name) {
  return read_all<float>(loc, name, H5T_NATIVE_FLOAT);
}
std::vector<int> read_ints(hid_t loc, const char* name) {
  return read_all<int>(loc, name, H5T_NATIVE_INT);
}

std::string read_attribute_string(hid_t obj, const char* name) {
  if (H5Aexists(obj, name) <= 0)
    throw Error(std::string("stats file: attribute ") + name + " missing");
  Id attr(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, name);
  Id type(H5Tcopy(H5T_C_S1), H5Tclose, name);
  check(H5Tset_size(type.id, H5T_VARIABLE), name);
  check(H5Tset_cset(type.id, H5T_CSET_UTF8), name);
  char* text = nullptr;
  check(H5Aread(attr.id, type.id, &text), name);
  std::string s = text ? text : "";
  H5free_memory(text);
  return s;
}

std::uint64_t read_attribute_u64(hid_t obj, const char* name) {
  return read_scalar_attribute<std::uint64_t>(obj, name, H5T_NATIVE_UINT64);
}
int read_attribute_i32(hid_t obj, const char* name) {
  return read_scalar_attribute<int>(obj, name, H5T_NATIVE_INT);
}
double read_attribute_f64(hid_t obj, const char* name) {
  return read_scalar_attribute<double>(obj, name, H5T_NATIVE_DOUBLE);
}

}  // namespace attnmc::h5
