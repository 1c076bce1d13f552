// SQL on a second connection to a SQLite file, for unit tests whose faults
// must be the database's own (a table renamed away, a trigger that aborts a
// statement), not ones injected into the code.  Fails the Check test when
// the SQL fails.  Header only: it uses Check, which the soak does not link.
#pragma once

#include <check.h>
#include <sqlite3.h>

#include <string>

namespace talentd::test {

inline void raw_sql(const std::string& path, const std::string& text) {
    sqlite3* raw = nullptr;
    ck_assert_int_eq(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(raw, text.c_str(), nullptr, nullptr, &error);
    const std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(raw);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", text.c_str(), message.c_str());
}

}  // namespace talentd::test
