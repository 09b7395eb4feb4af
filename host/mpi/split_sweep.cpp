// See split_sweep.hpp. Messages: a worker sends kReady (empty the first
// time, then the cell it finished: header JSON with the record and the file
// sizes, then the files' bytes); rank 0 answers kAssign with the next cell
// index, or an empty message when none is left.
#include "host/mpi/split_sweep.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "attnmc/error.hpp"
#include "host/mpi/fault_injection.hpp"
#include "host/mpi/world.hpp"

namespace attnmc::mpi {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kReady = 1, kAssign = 2;

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  if (!f && !f.eof()) throw Error("sweep: cannot read " + p.string());
  return s.str();
}

// A finished cell as one message.
std::string pack_cell(std::size_t cell, const json& record, const std::string& dir) {
  std::vector<fs::path> paths;
  for (const fs::directory_entry& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  json header = {{"cell", cell}, {"record", record}, {"files", json::array()}};
  std::string bytes;
  for (const fs::path& p : paths) {
    const std::string b = read_file(p);
    header["files"].push_back({p.filename().string(), b.size()});
    bytes += b;
  }
  const std::string h = header.dump();
  const std::uint64_t n = h.size();
  std::string out(reinterpret_cast<const char*>(&n), sizeof n);
  return out + h + bytes;
}

struct CellMessage {
  std::size_t cell = 0;
  json record;
  std::vector<std::pair<std::string, std::string>> files;
};

CellMessage unpack_cell(const std::string& m) {
  std::uint64_t n = 0;
  std::memcpy(&n, m.data(), sizeof n);
  const json header = json::parse(m.substr(sizeof n, n));
  CellMessage c;
  c.cell = header["cell"];
  c.record = header["record"];
  std::size_t at = sizeof n + n;
  for (const json& f : header["files"]) {
    const std::size_t size = f[1];
    c.files.emplace_back(f[0].get<std::string>(), m.substr(at, size));
    at += size;
  }
  return c;
}

class Queue {
 public:
  explicit Queue(const std::vector<std::size_t>& todo) : cells_(todo.begin(), todo.end()) {}
  bool next(std::size_t* cell) {
    std::lock_guard<std::mutex> g(m_);
    if (cells_.empty()) return false;
    *cell = cells_.front();
    cells_.pop_front();
    return true;
  }

 private:
  std::mutex m_;
  std::deque<std::size_t> cells_;
};

void worker(const World& w, const CellWork& work) {
  std::string finished;  // the previous cell, sent with the next request
  int assigned = 0;
  for (;;) {
    w.send(0, kReady, finished);
    const std::string a = w.receive(0, kAssign);
    if (a.empty()) return;
    const std::size_t cell = std::stoul(a);
    if (injected_fault(w.rank(), ++assigned) == Fault::kill) std::raise(SIGKILL);
    StagedDirectory dir(scratch_output_dir(w, "cell"), false);
    const json record = work.compute(cell, dir);
    finished = pack_cell(cell, record, dir.path());
  }
}

}  // namespace

std::string scratch_output_dir(const World& w, const std::string& leaf) {
  // Scratch directories of dead ranks (SIGKILL leaves them) go first.
  std::error_code ec;
  const fs::path tmp = fs::temp_directory_path();
  for (fs::directory_iterator it(tmp, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("attnmc-rank", 0) != 0) continue;
    const std::size_t dash = name.rfind('-');
    const long pid = std::strtol(name.c_str() + dash + 1, nullptr, 10);
    std::error_code ignored;
    if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH)
      fs::remove_all(it->path(), ignored);
  }
  return (tmp / ("attnmc-rank" + std::to_string(w.rank()) + "-" + std::to_string(::getpid())) /
          leaf)
      .string();
}

void run_cells_split(const World& w, const std::vector<std::size_t>& todo, const CellWork& work) {
  if (!w.root()) {
    worker(w, work);
    return;
  }
  Queue queue(todo);
  std::mutex commit_mutex;
  auto commit = [&](std::size_t cell, json record, StagedDirectory& dir) {
    std::lock_guard<std::mutex> g(commit_mutex);
    work.commit(cell, std::move(record), dir);
  };
  // Rank 0's queue server: answers every worker until none is left.
  auto serve = [&] {
    int active = w.size() - 1;
    int idle_us = 20;
    while (active > 0) {
      int from = -1, tag = -1;
      if (!w.poll(&from, &tag) || tag != kReady) {
        const timespec t{0, long(idle_us) * 1000};
        nanosleep(&t, nullptr);
        idle_us = std::min(idle_us * 2, 2000);
        continue;
      }
      idle_us = 20;
      const std::string m = w.receive(from, kReady);
      if (!m.empty()) {
        CellMessage c = unpack_cell(m);
        StagedDirectory dir(work.cell_dir(c.cell), false);
        for (const auto& [name, bytes] : c.files) dir.write_text(name, bytes);
        commit(c.cell, std::move(c.record), dir);
      }
      std::size_t cell = 0;
      if (queue.next(&cell)) {
        w.send(from, kAssign, std::to_string(cell));
      } else {
        w.send(from, kAssign, "");
        --active;
      }
    }
  };
  if (!w.threads_ok()) {
    serve();
    return;
  }
  std::exception_ptr server_error;
  std::thread server([&] {
    try {
      serve();
    } catch (...) {
      server_error = std::current_exception();
    }
  });
  try {
    std::size_t cell = 0;
    while (queue.next(&cell)) {
      StagedDirectory dir(work.cell_dir(cell), false);
      json record = work.compute(cell, dir);
      commit(cell, std::move(record), dir);
    }
  } catch (...) {
    // The server would wait for workers forever: end the job from here.
    server.detach();
    throw;
  }
  server.join();
  if (server_error) std::rethrow_exception(server_error);
}

}  // namespace attnmc::mpi
