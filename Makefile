# recsys: PGXS build of the extension (packagers' entry point).
#   make / make install           build and install the extension
#   make installcheck             pg_regress suite (sql/ + expected/) against a running server
#   make prove                    pgTAP suites (test/pgtap) with pg_prove against a running server
#   make unit                     core unit tests (GoogleTest, through CMake and ctest)
#   make test                     everything above in a throw-away cluster (see scripts/test)
#   make demo                     seed a demo namespace in a local cluster and print recommendations

EXTENSION = recsys
EXTVERSION = 0.2.0
MODULE_big = recsys

CORE_SOURCES := $(shell cat src/core/sources.txt)
PG_SOURCES := $(sort $(wildcard src/pg/*.cpp))
OBJS = $(CORE_SOURCES:.cpp=.o) $(PG_SOURCES:.cpp=.o)

SQL_PARTS := $(shell cat src/sql/files.txt)
# The install script of this version, the upgrade scripts from earlier ones (hand-written DDL in
# src/sql/upgrades/ around the replayed functions; see scripts/upgrade_script.py), and the
# install scripts of earlier versions, kept for the upgrade test (test/integration/upgrade.sh).
UPGRADES := $(patsubst src/sql/upgrades/%.sql,$(EXTENSION)--%.sql,$(wildcard src/sql/upgrades/*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPGRADES)
DATA = $(wildcard src/sql/versions/*.sql)
EXTRA_CLEAN = build $(OBJS:.o=.d)

REGRESS = $(basename $(notdir $(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --outputdir=. 

EIGEN_INCLUDE ?= /usr/include/eigen3
# -MMD: each object also depends on the headers it includes (the .d files read below).
PG_CXXFLAGS = -std=c++17 -Isrc -I$(EIGEN_INCLUDE) -DEIGEN_DONT_PARALLELIZE -Wno-missing-field-initializers -Wno-register -MMD -MP
SHLIB_LINK = -lstdc++

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
# No LLVM bitcode: the JIT would need clang for the C++ sources and gains nothing here.
override with_llvm = no
include $(PGXS)
-include $(OBJS:.o=.d)

$(EXTENSION)--$(EXTVERSION).sql: src/sql/files.txt $(SQL_PARTS)
	cat $(SQL_PARTS) > $@

$(EXTENSION)--%--$(EXTVERSION).sql: src/sql/upgrades/%--$(EXTVERSION).sql $(EXTENSION)--$(EXTVERSION).sql scripts/upgrade_script.py
	python3 scripts/upgrade_script.py $< $(EXTENSION)--$(EXTVERSION).sql > $@

.PHONY: prove unit test demo deps
prove:
	pg_prove --ext .sql -r test/pgtap

unit:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j2
	cd build && ctest --output-on-failure

test:
	bash scripts/test

demo:
	bash scripts/demo
