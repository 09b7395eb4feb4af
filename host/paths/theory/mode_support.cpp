// Shared pieces of the theory and posterior modes (mode_support.hpp).
#include "host/paths/theory/mode_support.hpp"

#include <cmath>

#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/config/toml_layer.hpp"
#include "host/hdf5_file.hpp"

namespace attnmc::paths {

PathsTheoryModel theory_model(const PathsSpec& spec, long width_override) {
  PathsTheoryModel m;
  for (int l = 0; l < spec.layers(); ++l) m.heads.push_back(spec.heads_in(l));
  for (int w : spec.widths) m.widths.push_back(width_override > 0 ? width_override : long(w));
  m.variances = spec.variances;
  m.temperature = spec.temperature;
  return m;
}

PathOverlapData overlap_data(const PathsSpec& spec, const PathsTask& task) {
  PathOverlapData d;
  d.n_train = task.train;
  d.n_test = task.test;
  d.n_paths = spec.paths();
  d.g = path_overlaps(spec, task);
  d.y_train.assign(task.y.begin(), task.y.begin() + task.train);
  d.y_test.assign(task.y.begin() + task.train, task.y.end());
  for (double y : d.y_test)
    if (!std::isfinite(y)) {
      d.y_test.clear();  // a file task without test labels: no accuracy
      break;
    }
  return d;
}

std::map<std::string, const toml::node*> section_keys(const toml::table& root,
                                                      const std::string& section,
                                                      const std::vector<std::string>& known) {
  std::map<std::string, const toml::node*> out;
  const toml::node* s = root.get(section);
  if (s == nullptr) return out;
  if (!s->is_table()) throw InputError(section, "expected a table [" + section + "]");
  for (const auto& [k, v] : *s->as_table()) {
    const std::string key(k.str());
    bool ok = false;
    for (const std::string& n : known) ok = ok || n == key;
    if (!ok) {
      std::string list;
      for (const std::string& n : known) list += (list.empty() ? "" : ", ") + n;
      throw InputError(section + "." + key, "unknown key (known: " + list + ")");
    }
    out[key] = &v;
  }
  return out;
}

std::vector<long> width_scan(const std::map<std::string, const toml::node*>& keys,
                             const std::string& section) {
  std::vector<long> w;
  auto it = keys.find("widths");
  if (it == keys.end()) return w;
  const std::string k = section + ".widths";
  for (int n : get_ints(*it->second, k)) {
    if (n < 1) throw InputError(k, "every width must be >= 1");
    w.push_back(n);
  }
  return w;
}

void write_h5(const std::string& path, const H5Table& t, const std::string& mode) {
  using h5::Id;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "file creation properties");
  h5::check(H5Pset_obj_track_times(fcpl.id, false), "root group times");
  Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose,
          "creating " + path);
  for (const auto& [name, dv] : t.sets) {
    std::vector<hsize_t> dims(dv.first.begin(), dv.first.end());
    h5::write_doubles(file.id, name.c_str(), dims, dv.second);
  }
  h5::attribute_string(file.id, "mode", mode);
  h5::attribute_string(file.id, "version", kVersion);
}

}  // namespace attnmc::paths
