// Atomic output directories and the files of one ensemble run.
#include "host/output.hpp"

#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <limits>
#include <mutex>
#include <random>
#include <regex>

#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/config.hpp"
#include "host/hdf5_file.hpp"
#include "host/stats_state.hpp"

namespace attnmc {
namespace {

namespace fs = std::filesystem;

// ---- What attnmc writes ----------------------------------------------------
// Every entry attnmc itself puts into an output directory, in this one place.
// --force replaces an existing directory only when all of its entries are
// among these (and one of kOutputMarkers is there): a user's own file is
// never deleted. Add the name here when a command starts writing a new file.
//   run, merge, sde:     stats.h5, summary.json, table.txt
//   collapse:            collapse.csv, collapse.png
//   compare:             compare.json, compare.png
//   sphere phase, sweep: phase.csv, phase.png, cells.csv, sweep.json
//   sweep stores:        cells/ (a directory) and .lock
//   oversmooth:          metrics.csv, oversmoothing.png (scripts/plot_oversmoothing.py)
//   paths theory:        theory.h5, posterior.h5 (run.mode = theory, posterior)
constexpr const char* kOutputFiles[] = {
    "summary.json", "stats.h5",    "table.txt",   "collapse.csv",      "collapse.png",
    "compare.json", "compare.png", "phase.csv",   "phase.png",         "cells.csv",
    "sweep.json",   ".lock",       "metrics.csv", "oversmoothing.png", "paths.h5",
    "theory.h5",    "posterior.h5"};
constexpr const char* kOutputDirectories[] = {"cells"};
// Written by attnmc alone and whole: one of them marks an attnmc output directory.
constexpr const char* kOutputMarkers[] = {"summary.json", "stats.h5", "compare.json", "sweep.json"};

bool is_nonempty_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && !fs::is_empty(p, ec);
}

// Lexically absolute, so "out" and "./out/" name the same parent.
fs::path absolute_path(const std::string& dir) {
  fs::path p = fs::absolute(fs::path(dir)).lexically_normal();
  if (!p.has_filename() && p.has_parent_path()) p = p.parent_path();  // trailing '/'
  return p;
}

// The directory as the user named it, for messages ("out/x", not "out/x/").
std::string display_dir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

std::string random_suffix() {
  std::random_device rd;
  const char* hex = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 8; ++i) s += hex[rd() % 16];
  return s;
}

// This machine (a hash of the host name, 8 hex digits): a staging directory
// on a shared file system may belong to a live process on another host,
// whose pid means nothing here.
const std::string& host_tag() {
  static const std::string tag = [] {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    std::uint32_t h = 2166136261u;  // FNV-1a
    for (const char* c = name; *c; ++c) h = (h ^ std::uint8_t(*c)) * 16777619u;
    char buf[9];
    std::snprintf(buf, sizeof buf, "%08x", unsigned(h));
    return std::string(buf);
  }();
  return tag;
}

// "<pid>-<host>": who owns a staging (.tmp-) or backup (.old-) directory.
std::string owner_tag() { return std::to_string(::getpid()) + "-" + host_tag(); }

std::vector<std::string> foreign_entries(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    const bool is_dir = it->symlink_status(e2).type() == fs::file_type::directory;
    const std::string name = it->path().filename().string();
    if (!is_attnmc_output_entry(name, is_dir)) out.push_back(name);
  }
  if (ec) out.push_back("(unreadable: " + ec.message() + ")");
  std::sort(out.begin(), out.end());
  return out;
}

// --force may replace `target` (an existing non-empty directory): only an
// attnmc result, nothing else in it.
void check_replaceable(const fs::path& target, const std::string& dir) {
  const std::vector<std::string> foreign = foreign_entries(target);
  if (!foreign.empty()) {
    std::string list;
    for (std::size_t i = 0; i < foreign.size() && i < 3; ++i) list += (i ? ", " : "") + foreign[i];
    if (foreign.size() > 3) list += " and " + std::to_string(foreign.size() - 3) + " more";
    throw InputError("output", "'" + dir + "' holds files attnmc did not write: " + list +
                                   "; remove them or choose another directory");
  }
  std::error_code ec;
  for (const char* m : kOutputMarkers)
    if (fs::symlink_status(target / m, ec).type() == fs::file_type::regular) return;
  throw InputError("output", "'" + dir +
                                 "' is not an attnmc output directory (no summary.json, stats.h5, "
                                 "compare.json or sweep.json); refusing to replace it");
}

// ---- Live staging directories, removed on SIGINT / SIGTERM / SIGHUP ---------
// A fixed table the signal handler reads without locks or allocation: each
// slot holds the staging directory, the topmost parent it created (removed
// when empty), and during a commit the final directory and the old result
// moved aside (put back if the new one is not in place yet).
constexpr int kSlots = 16;
constexpr std::size_t kPathMax = 4096;
struct Slot {
  std::atomic<int> state{0};       // 0 free, 1 being filled in, 2 live
  std::atomic<int> committing{0};  // the owning thread is renaming: wait
  std::atomic<pid_t> owner{0};     // a forked child never cleans its parent's
  char staging[kPathMax] = {};
  char top_parent[kPathMax] = {};
  char final_dir[kPathMax] = {};
  char old[kPathMax] = {};
};
Slot g_slots[kSlots];
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<pid_t>::is_always_lock_free,
              "signal handlers need lock-free atomics");

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr int kNumSignals = sizeof kSignals / sizeof kSignals[0];
struct sigaction g_previous[kNumSignals];

bool copy_path(char* dst, const std::string& src) {
  if (src.size() >= kPathMax) return false;
  std::memcpy(dst, src.c_str(), src.size() + 1);
  return true;
}

std::size_t length(const char* s) {
  std::size_t n = 0;
  while (s[n]) ++n;
  return n;
}

// Async-signal-safe recursive removal of `name` in the directory `parent_fd`
// (open/openat, getdents64, unlinkat, close only).
void remove_tree_at(int parent_fd, const char* name, int depth);

void clear_directory(int fd, int depth) {
  alignas(8) char buf[2048];
  for (int pass = 0; pass < 64; ++pass) {  // again from the start until empty
    if (::lseek(fd, 0, SEEK_SET) != 0) return;
    bool any = false;
    for (;;) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[]
        unsigned short reclen;
        std::memcpy(&reclen, buf + off + 16, sizeof reclen);
        const char* entry = buf + off + 19;
        off += reclen;
        if (entry[0] == '.' && (entry[1] == 0 || (entry[1] == '.' && entry[2] == 0))) continue;
        any = true;
        remove_tree_at(fd, entry, depth + 1);
      }
    }
    if (!any) return;
  }
}

void remove_tree_at(int parent_fd, const char* name, int depth) {
  if (::unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT) return;
  if ((errno != EISDIR && errno != EPERM) || depth > 32) return;
  const int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  clear_directory(fd, depth);
  ::close(fd);
  ::unlinkat(parent_fd, name, AT_REMOVEDIR);
}

void remove_live_staging() {
  const pid_t self = ::getpid();
  for (Slot& s : g_slots) {
    if (s.state.load() != 2 || s.owner.load() != self) continue;
    // Another thread is between the renames of a commit (its signals are
    // blocked): let it finish, a few milliseconds at most.
    for (int i = 0; i < 2000 && s.committing.load(); ++i) {
      const timespec ms{0, 1000000};
      ::nanosleep(&ms, nullptr);
    }
    if (s.staging[0]) remove_tree_at(AT_FDCWD, s.staging, 0);
    if (s.old[0]) {
      struct stat st;
      if (::lstat(s.final_dir, &st) != 0 && errno == ENOENT)
        ::rename(s.old, s.final_dir);  // the new result is not in place: keep the old one
      else
        remove_tree_at(AT_FDCWD, s.old, 0);
    }
    // The parents this staging directory needed, deepest first, while empty.
    if (s.staging[0] && s.top_parent[0]) {
      char dir[kPathMax];
      std::memcpy(dir, s.staging, length(s.staging) + 1);
      const std::size_t top = length(s.top_parent);
      for (std::size_t n = length(dir); n > top;) {
        while (n > 0 && dir[n - 1] != '/') --n;
        if (n <= 1) break;
        dir[--n] = 0;  // cut "/<last>"
        if (n < top || ::rmdir(dir) != 0) break;
      }
    }
  }
}

extern "C" void on_staging_signal(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  remove_live_staging();
  int k = 0;
  while (k < kNumSignals && kSignals[k] != sig) ++k;
  if (k < kNumSignals) {
    const struct sigaction& prev = g_previous[k];
    if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction != nullptr) {
      prev.sa_sigaction(sig, info, context);  // chained: it decides what happens next
      errno = saved_errno;
      return;
    }
    if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
      prev.sa_handler(sig);
      errno = saved_errno;
      return;
    }
  }
  // The default action, so the exit status says which signal ended the run.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
  sigset_t unblock;
  sigemptyset(&unblock);
  sigaddset(&unblock, sig);
  ::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
  ::raise(sig);
  errno = saved_errno;
}

// Once, when the first staging directory is made. A signal the process
// ignores (nohup) stays ignored.
void install_signal_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int k = 0; k < kNumSignals; ++k) {
      struct sigaction cur;
      if (::sigaction(kSignals[k], nullptr, &cur) != 0) continue;
      if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN) continue;
      g_previous[k] = cur;
      struct sigaction sa;
      std::memset(&sa, 0, sizeof sa);
      sa.sa_sigaction = on_staging_signal;
      sa.sa_flags = SA_SIGINFO | SA_RESTART;
      sigemptyset(&sa.sa_mask);
      for (int s : kSignals) sigaddset(&sa.sa_mask, s);
      ::sigaction(kSignals[k], &sa, nullptr);
    }
  });
}

// SIGINT, SIGTERM, SIGHUP held back in this thread while a slot changes or
// a commit renames (delivered when the scope ends).
class SignalsHeld {
 public:
  SignalsHeld() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kSignals) sigaddset(&set, s);
    ::pthread_sigmask(SIG_BLOCK, &set, &saved_);
  }
  ~SignalsHeld() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  SignalsHeld(const SignalsHeld&) = delete;
  SignalsHeld& operator=(const SignalsHeld&) = delete;

 private:
  sigset_t saved_;
};

// A slot for `staging`, or -1 when the table is full (then a signal leaves
// the directory for the next run to clear).
int register_staging(const std::string& staging, const std::string& top_parent) {
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1)) continue;
    Slot& s = g_slots[i];
    s.old[0] = s.final_dir[0] = 0;
    if (!copy_path(s.staging, staging)) {
      s.state.store(0);
      return -1;
    }
    if (!copy_path(s.top_parent, top_parent)) s.top_parent[0] = 0;
    s.owner.store(::getpid());
    s.state.store(2);
    return i;
  }
  return -1;
}

void unregister_staging(int slot) {
  if (slot >= 0) g_slots[slot].state.store(0);
}

// ---- Stale directories of dead processes -------------------------------------
// SIGKILL (or a crash) leaves a staging directory no handler could remove.
// Names: ".<name>.tmp-<pid>-<host>-XXXXXX" and ".<name>.old-<pid>-<host>-<hex>";
// older attnmc wrote ".<name>.tmp-<hex>-XXXXXX" and ".<name>.old-<hex>" (no
// owner: stale). A directory of a live process, or of another host, is kept.
void clear_stale_staging(const fs::path& parent) {
  static const std::regex tmp_owned(R"(^\.(.+)\.tmp-([0-9]{1,10})-([0-9a-f]{8})-[A-Za-z0-9]{6}$)");
  static const std::regex old_owned(R"(^\.(.+)\.old-([0-9]{1,10})-([0-9a-f]{8})-[0-9a-f]{8}$)");
  static const std::regex tmp_legacy(R"(^\.(.+)\.tmp-[0-9a-f]{8}-[A-Za-z0-9]{6}$)");
  static const std::regex old_legacy(R"(^\.(.+)\.old-[0-9a-f]{8}$)");
  struct Stale {
    fs::path path, final_dir;
    bool backup;
  };
  std::vector<Stale> stale;
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 8 || name[0] != '.') continue;
    std::smatch m;
    bool backup = false, owned = false;
    if (std::regex_match(name, m, tmp_owned)) {
      owned = true;
    } else if (std::regex_match(name, m, old_owned)) {
      owned = backup = true;
    } else if (std::regex_match(name, m, old_legacy)) {
      backup = true;
    } else if (!std::regex_match(name, m, tmp_legacy)) {
      continue;
    }
    if (owned) {
      if (m[3].str() != host_tag()) continue;  // another machine's: cannot tell
      const long long pid = std::stoll(m[2].str());
      if (pid > 0 && pid <= std::numeric_limits<pid_t>::max() &&
          (::kill(pid_t(pid), 0) == 0 || errno != ESRCH))
        continue;  // alive (or not ours to signal): never touched
    }
    std::error_code e2;
    if (it->symlink_status(e2).type() != fs::file_type::directory) continue;
    stale.push_back({it->path(), parent / m[1].str(), backup});
  }
  // Backups first: one whose final directory is missing is put back.
  std::stable_sort(stale.begin(), stale.end(),
                   [](const Stale& a, const Stale& b) { return a.backup > b.backup; });
  for (const Stale& s : stale) {
    std::error_code e2;
    if (s.backup && !fs::exists(fs::symlink_status(s.final_dir, e2))) {
      fs::rename(s.path, s.final_dir, e2);
      if (!e2) {
        std::fprintf(stderr, "attnmc: note: restored %s from %s (left by an interrupted run)\n",
                     s.final_dir.c_str(), s.path.c_str());
        continue;
      }
    }
    e2.clear();
    fs::remove_all(s.path, e2);
    if (!e2)
      std::fprintf(stderr,
                   "attnmc: note: removed stale temporary directory %s (left by an interrupted "
                   "run)\n",
                   s.path.c_str());
  }
}

}  // namespace

bool is_attnmc_output_entry(const std::string& name, bool is_directory) {
  if (is_directory)
    return std::find(std::begin(kOutputDirectories), std::end(kOutputDirectories), name) !=
           std::end(kOutputDirectories);
  if (std::find(std::begin(kOutputFiles), std::end(kOutputFiles), name) != std::end(kOutputFiles))
    return true;
  // ".<file>.tmp-<pid>": a file the sweep store was writing when it was killed.
  const std::size_t t = name.rfind(".tmp-");
  if (name.size() < 2 || name[0] != '.' || t == std::string::npos || t < 2 ||
      t + 5 == name.size() || name.find_first_not_of("0123456789", t + 5) != std::string::npos)
    return false;
  return is_attnmc_output_entry(name.substr(1, t - 1), false);
}

void write_file_checked(const std::string& path, const std::string& text,
                        const std::string& display_name) {
  const auto fail = [&](int err) {
    throw Error("output: cannot write " + display_name + ": " + std::strerror(err));
  };
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail(errno);
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      fail(err);
    }
    p += n;
    left -= std::size_t(n);
  }
  // Network file systems report a failed write-back here.
  if (::close(fd) != 0 && errno != EINTR) fail(errno);
}

void flush_stdout_or_throw() {
  errno = 0;
  const int err = std::fflush(stdout) != 0 ? errno : 0;
  if (err != 0 || std::ferror(stdout))
    throw Error(std::string("cannot write standard output: ") +
                (err != 0 ? std::strerror(err) : "a write failed"));
}

void check_output_dir(const std::string& dir, bool force) {
  if (dir.empty()) throw InputError("output", "empty path");
  const fs::path target = absolute_path(dir);
  std::error_code ec;
  // Leftovers of killed runs next to it go first (a backup may come back).
  if (fs::is_directory(target.parent_path(), ec)) clear_stale_staging(target.parent_path());
  const fs::file_status st = fs::status(target, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      throw InputError("output", "'" + dir + "' exists and is not a directory");
    if (!force && is_nonempty_dir(target))
      throw InputError("output",
                       "'" + dir + "' exists and is not empty (use --force to replace it)");
    // --force deletes the old directory: only ever one that attnmc wrote.
    if (force && is_nonempty_dir(target)) check_replaceable(target, display_dir(dir));
    const fs::path cwd = fs::current_path(ec);
    if (!ec && cwd.lexically_relative(target).string().rfind("..", 0) != 0)
      throw InputError("output", "'" + dir + "' contains the working directory");
  }
  // The staging directory is created next to the target, so the nearest
  // existing ancestor must be a writable directory.
  fs::path p = target.parent_path();
  while (!p.empty() && !fs::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  if (!fs::is_directory(p, ec))
    throw InputError("output", "'" + p.string() + "' (parent of '" + dir + "') is not a directory");
  if (::access(p.c_str(), W_OK | X_OK) != 0)
    throw InputError("output", "cannot write in '" + p.string() + "': " + std::strerror(errno));
}

StagedDirectory::StagedDirectory(std::string final_dir, bool force)
    : final_(absolute_path(final_dir).string()), display_(display_dir(final_dir)), force_(force) {
  check_output_dir(final_dir, force);
  install_signal_handlers();
  // Create missing parents now (remembered, removed again on failure).
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = fs::path(final_).parent_path(); !fs::exists(p, ec) && p != p.parent_path();
       p = p.parent_path())
    missing.push_back(p);
  const auto remove_parents = [this] {
    std::error_code e;
    for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it)
      fs::remove(*it, e);  // only removes empty directories
  };
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (!fs::create_directory(*it, ec) && ec) {
      const std::string reason = ec.message();
      remove_parents();
      throw InputError("output", "cannot create '" + it->string() + "': " + reason);
    }
    created_parents_.push_back(it->string());
  }
  const fs::path f(final_);
  std::string tmpl =
      (f.parent_path() / ("." + f.filename().string() + ".tmp-" + owner_tag() + "-XXXXXX"))
          .string();
  {
    const SignalsHeld held;  // no signal between creating and registering it
    if (::mkdtemp(tmpl.data()) == nullptr) {
      const int err = errno;
      remove_parents();
      throw InputError("output",
                       "cannot create a directory next to '" + final_ + "': " + std::strerror(err));
    }
    staging_ = tmpl;
    slot_ = register_staging(staging_, created_parents_.empty() ? "" : created_parents_.front());
  }
  // mkdtemp makes it private (0700); the result should get the usual umask.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  fs::permissions(staging_, static_cast<fs::perms>(0777 & ~mask), ec);
}

StagedDirectory::~StagedDirectory() {
  if (!committed_) {
    std::error_code ec;
    if (!staging_.empty()) fs::remove_all(staging_, ec);
    for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it)
      fs::remove(*it, ec);  // only removes empty directories
  }
  const SignalsHeld held;
  unregister_staging(slot_);
}

void StagedDirectory::write_text(const std::string& name, const std::string& text) const {
  write_file_checked(file(name), text, display_ + "/" + name);
}

void StagedDirectory::commit() {
  if (committed_) return;
  std::error_code ec;
  const fs::path target(final_);
  fs::path old;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec))
      throw InputError("output", "'" + display_ + "' exists and is not a directory");
    if (is_nonempty_dir(target)) {
      if (!force_)
        throw InputError("output", "'" + display_ + "' appeared meanwhile and is not empty");
      check_replaceable(target, display_);
      // Move the old result aside first: the new one replaces it in one rename.
      old = target.parent_path() /
            ("." + target.filename().string() + ".old-" + owner_tag() + "-" + random_suffix());
    } else {
      fs::remove(target, ec);
    }
  }
  {
    // Signals wait for both renames; the handler (in another thread) waits
    // on `committing`, and knows the old result to put back or remove.
    const SignalsHeld held;
    Slot* slot = slot_ >= 0 ? &g_slots[slot_] : nullptr;
    struct Committing {
      Slot* s;
      ~Committing() {
        if (s) s->committing.store(0);
      }
    } committing{slot};
    if (slot) {
      slot->committing.store(1);
      if (!old.empty() && copy_path(slot->final_dir, final_) && !copy_path(slot->old, old.string()))
        slot->old[0] = 0;
    }
    if (!old.empty()) {
      fs::rename(target, old, ec);
      if (ec) {
        if (slot) slot->old[0] = 0;
        throw Error("output: cannot replace " + display_ +
                    ": moving the old result aside: " + ec.message());
      }
    }
    fs::rename(staging_, target, ec);
    if (ec) {
      const std::string reason = ec.message();
      if (!old.empty()) {
        std::error_code e2;
        fs::rename(old, target, e2);
      }
      if (slot) slot->old[0] = 0;
      throw Error("output: cannot write " + display_ + ": " + reason);
    }
    committed_ = true;
    if (slot) slot->staging[0] = 0;  // in place now; only the old result is left
  }
  if (!old.empty()) fs::remove_all(old, ec);
  const SignalsHeld held;
  unregister_staging(slot_);
  slot_ = -1;
}

nlohmann::json canonical_config(const EnsembleResult& r, const nlohmann::json& family_config) {
  nlohmann::json c = run_spec_json(r.spec);
  // How a run was executed does not change its statistics: leave it out.
  for (const char* k : {"chunk", "memory_cap", "member_begin", "member_end"})
    c["ensemble"].erase(k);
  c.erase("run");
  if (!family_config.is_null()) c["family"] = family_config;
  return c;
}

void write_stats_h5(const std::string& path, const EnsembleResult& r,
                    const nlohmann::json& family_config) {
  using h5::Id;
  const EnsembleStatistics& st = r.stats;
  const RunSpec& spec = r.spec;
  const hsize_t R = st.layers().size(), m = hsize_t(st.tokens()), Q = spec.quantiles.size();
  const hsize_t pairs = hsize_t(st.pairs()), bins = hsize_t(st.histogram_bins());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors become exceptions, not stack dumps
  Id fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose, "file creation properties");
  h5::check(H5Pset_obj_track_times(fcpl.id, false), "root group times");
  Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.id, H5P_DEFAULT), H5Fclose,
          "creating stats.h5");

  std::vector<int> layers(st.layers().begin(), st.layers().end());
  h5::write(file.id, "layers", H5T_NATIVE_INT, H5T_STD_I32LE, {R}, layers.data());
  std::vector<double> t(R);
  for (hsize_t k = 0; k < R; ++k) t[k] = double(layers[k]) / spec.model.width;
  if (!r.record_times.empty()) t = r.record_times;
  h5::write_doubles(file.id, "t", {R}, t);

  std::vector<std::int64_t> members(R), nonfinite(R), overflow(R), blowup(R);
  const hsize_t mm = m * m;
  std::vector<double> gmean(R * mm), gvar(R * mm), rmean(R * mm), rvar(R * mm);
  for (hsize_t k = 0; k < R; ++k) {
    const LayerStatistics& L = st.per_layer()[k];
    members[k] = L.members;
    nonfinite[k] = L.nonfinite;
    overflow[k] = L.overflow;
    blowup[k] = L.blowup;
    for (hsize_t e = 0; e < mm; ++e) {
      gmean[k * mm + e] = L.gram[e].mean();
      gvar[k * mm + e] = L.gram[e].variance();
      rmean[k * mm + e] = L.rho[e].mean();
      rvar[k * mm + e] = L.rho[e].variance();
    }
  }
  h5::write_int64s(file.id, "members", {R}, members);
  h5::write_int64s(file.id, "nonfinite", {R}, nonfinite);
  h5::write_int64s(file.id, "overflow", {R}, overflow);
  h5::write_int64s(file.id, "blowup", {R}, blowup);
  h5::write_doubles(file.id, "gram_mean", {R, m, m}, gmean);
  h5::write_doubles(file.id, "gram_var", {R, m, m}, gvar);
  h5::write_doubles(file.id, "rho_mean", {R, m, m}, rmean);
  h5::write_doubles(file.id, "rho_var", {R, m, m}, rvar);

  // Quantiles over finite members (overflowing ones included: a quantile is
  // still meaningful for them). Symmetric, so each a <= b is computed once.
  std::vector<double> gq(R * Q * mm), rq(R * Q * mm);
  for (hsize_t k = 0; k < R; ++k)
    for (hsize_t q = 0; q < Q; ++q)
      for (hsize_t a = 0; a < m; ++a)
        for (hsize_t b = a; b < m; ++b) {
          const double level = spec.quantiles[q];
          const double g = st.quantile(int(k), int(a), int(b), level, false);
          const double c = a == b ? 1.0 : st.quantile(int(k), int(a), int(b), level, true);
          const hsize_t base = (k * Q + q) * mm;
          gq[base + a * m + b] = gq[base + b * m + a] = g;
          rq[base + a * m + b] = rq[base + b * m + a] = c;
        }
  h5::write_doubles(file.id, "gram_quantiles", {R, Q, m, m}, gq);
  h5::write_doubles(file.id, "rho_quantiles", {R, Q, m, m}, rq);
  h5::write_doubles(file.id, "quantile_levels", {Q}, spec.quantiles);
  for (const char* name : {"gram_quantiles", "rho_quantiles"}) {
    Id set(H5Dopen2(file.id, name, H5P_DEFAULT), H5Dclose, name);
    h5::attribute_doubles(set.id, "quantile_levels", spec.quantiles);
    // The stated error bound of sketch quantiles (0: exact quantiles).
    const bool exact = st.options().exact_quantiles;
    if (std::string(name) == "rho_quantiles")
      h5::attribute_f64(set.id, "max_abs_error", exact ? 0.0 : st.rho_quantile_error());
    else
      h5::attribute_f64(set.id, "max_rel_error", exact ? 0.0 : st.gram_quantile_error());
  }

  std::vector<std::int64_t> hist;
  hist.reserve(R * pairs * bins);
  for (hsize_t k = 0; k < R; ++k) {
    const auto& h = st.per_layer()[k].rho_histogram;
    hist.insert(hist.end(), h.begin(), h.end());
  }
  if (hist.size() != R * pairs * bins) throw Error("rho histogram has an unexpected size");
  h5::write_int64s(file.id, "rho_histogram", {R, pairs, bins}, hist);
  std::vector<double> edges(bins + 1);
  for (hsize_t i = 0; i <= bins; ++i) edges[i] = -1.0 + 2.0 * double(i) / double(bins);
  h5::write_doubles(file.id, "rho_histogram_edges", {bins + 1}, edges);

  h5::attribute_string(file.id, "version", kVersion);
  h5::attribute_u64(file.id, "seed", spec.seed);
  h5::attribute_u64(file.id, "ensemble_members", spec.members);
  h5::attribute_u64(file.id, "member_begin", spec.member_begin);
  h5::attribute_u64(file.id, "member_end", spec.end_member());
  h5::attribute_i32(file.id, "width", spec.model.width);
  h5::attribute_i32(file.id, "tokens", spec.model.tokens);
  h5::attribute_i32(file.id, "depth", spec.model.depth);
  h5::attribute_string(file.id, "model", model_kind_name(spec.model));
  h5::attribute_string(file.id, "device", r.device);
  h5::attribute_string(file.id, "sampler", r.sampler);

  StatsIdentity id;
  id.family = r.family;
  id.config = canonical_config(r, family_config).dump();
  id.seed = spec.seed;
  id.members = spec.members;
  id.member_begin = spec.member_begin;
  id.member_end = spec.end_member();
  id.device = r.device;
  id.sampler = r.sampler;
  write_statistics_state(file.id, id, st);
  h5::check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "flushing stats.h5");
}

nlohmann::json run_summary_json(const EnsembleResult& r) {
  using nlohmann::json;
  json j;
  j["version"] = kVersion;
  j["seed"] = r.spec.seed;
  j["config"] = run_spec_json(r.spec);
  j["device"] = r.device;
  j["sampler"] = r.sampler;
  if (!r.sampler_reason.empty()) j["sampler_reason"] = r.sampler_reason;
  j["chunk"] = r.chunk;
  j["threads"] = r.threads;
  j["timings"] = {{"simulate_s", r.seconds_simulate}, {"statistics_s", r.seconds_statistics}};
  j["members_range"] = {r.spec.member_begin, r.spec.end_member()};
  const EnsembleStatistics& st = r.stats;
  j["statistics_bytes"] = st.bytes();  // held at the end; the cap counts the worst case
  j["quantile_error_bound"] =
      st.options().exact_quantiles
          ? json{{"method", "exact (stored samples)"}}
          : json{{"method", "sketch"},
                 {"rho_max_abs_error", st.rho_quantile_error()},
                 {"gram_max_rel_error", st.gram_quantile_error()},
                 {"note",
                  "rho: grid of rho_quantile_bins cells on [-1, 1], error <= half a cell; V: "
                  "DDSketch, error <= quantile_accuracy * max(|x_lo|, |x_hi|) of the neighbouring "
                  "order statistics; |V| outside [2^-64, 2^64] reads as 0 / +-inf"}};
  json layers = json::array();
  std::int64_t nonfinite = 0, overflow = 0;
  for (const LayerStatistics& L : r.stats.per_layer()) {
    layers.push_back({{"layer", L.layer},
                      {"members", L.members},
                      {"nonfinite", L.nonfinite},
                      {"overflow", L.overflow}});
    nonfinite = std::max(nonfinite, L.nonfinite);
    overflow = std::max(overflow, L.overflow);
  }
  j["layers"] = layers;
  j["max_nonfinite"] = nonfinite;
  j["max_overflow"] = overflow;
  return j;
}

}  // namespace attnmc
