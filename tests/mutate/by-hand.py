#!/usr/bin/env python3
"""tests/mutate/by-hand.py — the issue's table of one-line bugs, each made by
hand once in a copy of the tree (build/handmut/tree, never the working tree)
and run against the test that must catch it.

    tests/mutate/by-hand.py [NAME...]      all of them, or the ones named

The copy is build/handmut/tree (made with `tests/mutate/mutate.py --prepare
build/handmut`); each bug is applied, the test program built and run, and
the file restored.  Prints one line per bug: CAUGHT (the Check test named
after it failed; its failure lines follow) or MISSED.  Exit status 1 if one
was missed.
"""
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORK = os.path.join(ROOT, "build", "handmut")
TREE, BUILD = os.path.join(WORK, "tree"), os.path.join(WORK, "build")

# name: (file, exact original text, its replacement, the test program, a Check test name filter)
BUGS = {
    "reaper-deletes-referenced": ("src/cleanup/pictures.cc", "        if (referenced) {", "        if (false) {",
                                  "tests/unit/test_cleanup", "reaper_never_deletes_a_referenced_key"),
    "reaper-ignores-grace": ("src/cleanup/pictures.cc", "now - config.pending_grace", "now",
                             "tests/unit/test_cleanup", "reaper_respects_pending_grace"),
    "audit-blind-to-orphans": ("src/cleanup/pictures.cc",
                               "        if (!in_db.count(k)) report->unreferenced.push_back(k);",
                               "        (void)k;",
                               "tests/unit/test_cleanup", "audit_reports_orphans_and_missing_keys"),
    "acl-forced-private": ("src/storage/store.cc", "    properties.cannedAcl = acl;",
                           "    properties.cannedAcl = S3CannedAclPrivate;",
                           "tests/integration/test_storage", "put_sends_object_properties"),
    "no-content-md5": ("src/storage/store.cc", "    properties.md5 = md5.c_str();", "",
                       "tests/integration/test_storage", "put_sends_object_properties"),
    "no-cache-control": ("src/storage/store.cc",
                         "    properties.cacheControl = settings_.cache_control.empty() ? nullptr : "
                         "settings_.cache_control.c_str();", "",
                         "tests/integration/test_storage", "put_sends_object_properties"),
    "no-content-type": ("src/storage/store.cc",
                        "    properties.contentType = content_type.empty() ? nullptr : content_type.c_str();",
                        "    (void)content_type;",
                        "tests/integration/test_storage", "put_sends_object_properties"),
    "master-never-reaps": ("src/daemon/master.cc", "        if (hooks_.reaper && config_.reap_interval > 0 && now >= next_reap_at_) {",
                           "        if (false && hooks_.reaper) {",
                           "tests/unit/test_master", "master_runs_the_periodic_reaper"),
    "sighup-keeps-old-config": ("src/daemon/master.cc", "    config_ = std::move(fresh);\n", "",
                                "tests/unit/test_master", "reload_applies_the_changed_configuration"),
    "crash-backoff-ignored": ("src/daemon/master.cc",
                              "            next_spawn_at_ = std::max(next_spawn_at_, now_s() + e.delay);\n", "",
                              "tests/unit/test_master", "crash_loop_backs_off"),
    "sigkill-on-stop": ("src/daemon/master.cc", "    for (pid_t pid : supervisor_.pids()) kill(pid, SIGTERM);",
                        "    for (pid_t pid : supervisor_.pids()) kill(pid, SIGKILL);",
                        "tests/unit/test_master", "stop_sends_sigterm_to_workers"),
    "socket-mode-0777": ("src/daemon/listener.cc",
                         "    chmod(path.c_str(), static_cast<mode_t>(std::strtol(mode.c_str(), nullptr, 8)));",
                         "    (void)mode;\n    chmod(path.c_str(), 0777);",
                         "tests/unit/test_master", "unix_socket_has_socket_mode"),
    "no-rlimit-data": ("src/talentd.cc",
                       "    if (setrlimit(RLIMIT_DATA, &limit) != 0) LOG_WARN(",
                       "    if ((void)limit, false) LOG_WARN(",
                       "tests/integration/test_daemon", "socket_mode_and_worker_memory_limit"),
    "retry-after-hard-coded": ("src/cleanup/pictures.cc", "std::to_string(config.retry_after)", "std::string(config.retry_after ? \"30\" : \"30\")",
                               "tests/integration/test_pictures", "test_storage_down_is_503"),
    "pixel-limit-off-by-one": ("src/image/validate.cc", "w * h > uint64_t(", "w * h >= uint64_t(",
                               "tests/unit/test_image_limits", "pixel_limit_is_inclusive"),
}


def main():
    names = sys.argv[1:] or list(BUGS)
    if not os.path.isdir(TREE):
        sys.exit("no copy of the tree in %s: tests/mutate/mutate.py --prepare build/handmut" % TREE)
    env = dict(os.environ, TALENTD_BUILD=BUILD, TALENTD_SOURCE_DIR=TREE)
    env.setdefault("TALENTD_CORPUS", os.path.join(ROOT, "..", "shared", "corpus"))
    missed = 0
    for name in names:
        path, old, new, test, check_test = BUGS[name]
        full = os.path.join(TREE, path)
        original = open(full).read()
        if original.count(old) != 1:
            print("%-26s SKIPPED: the original text is not found once in %s" % (name, path), flush=True)
            missed += 1
            continue
        try:
            open(full, "w").write(original.replace(old, new))
            targets = [test] + (["talentd", "talentctl"] if "integration" in test else [])
            b = subprocess.run(["make", "-C", TREE, "-j2", "--no-print-directory", "BUILD=" + BUILD] +
                               [os.path.join(BUILD, t) for t in targets],
                               capture_output=True, text=True)
            if b.returncode != 0:
                print("%-26s DOES NOT COMPILE\n%s" % (name, b.stdout[-2000:] + b.stderr[-2000:]), flush=True)
                missed += 1
                continue
            r = subprocess.run([os.path.join(BUILD, test)], cwd=TREE, capture_output=True, text=True,
                               env=env, timeout=1800)
            lines = [l for l in (r.stdout + r.stderr).splitlines() if ":F:" in l or ":E:" in l]
            # Caught only by the test named after the bug, not by chance elsewhere.
            if r.returncode != 0 and any(":" + check_test + ":" in l for l in lines):
                print("%-26s CAUGHT by %s" % (name, os.path.basename(test)), flush=True)
                for l in lines[:4]:
                    print("      " + l[:400], flush=True)
            else:
                print("%-26s MISSED by %s:%s" % (name, os.path.basename(test), check_test), flush=True)
                for l in lines[:4]:
                    print("      " + l[:400], flush=True)
                missed += 1
        finally:
            open(full, "w").write(original)
    # Rebuild the unmutated objects for the next run.
    subprocess.run(["make", "-C", TREE, "-j2", "--no-print-directory", "BUILD=" + BUILD, "tests"],
                   capture_output=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
