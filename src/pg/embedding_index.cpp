// SQL entry point that trains the centroids of a namespace's IVF embedding index
// (recsys_build_embedding_index in src/sql/catalog.sql stores them).
#include <vector>

#include "core/catalog.hpp"
#include "pg/boundary.hpp"
#include "pg/declaration.hpp"

extern "C" {
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

extern "C" {

PG_FUNCTION_INFO_V1(recsys_embedding_centroids);

// _embedding_centroids(org, ns, lists, sample, iterations, seed) -> real[] (lists x dim, row-major):
// spherical k-means over up to `sample` embeddings, chosen by a seeded hash of the item id.
Datum recsys_embedding_centroids(PG_FUNCTION_ARGS) {
    recsys_pg::check_arguments(fcinfo, 6);
    int lists = PG_GETARG_INT32(2);
    int sample = PG_GETARG_INT32(3);
    int iterations = PG_GETARG_INT32(4);
    int64 seed = PG_GETARG_INT64(5);
    Datum args[4] = {PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), Int64GetDatum(seed), Int32GetDatum(sample)};
    Oid types[4] = {UUIDOID, TEXTOID, INT8OID, INT4OID};
    SPI_connect();
    int rc = SPI_execute_with_args(
        "SELECT embedding FROM recsys.items WHERE org_id = $1 AND namespace = $2 AND embedding IS NOT NULL "
        "ORDER BY hashtextextended(item_id, $3), item_id LIMIT $4",
        4, types, args, nullptr, true, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "reading embeddings failed: %s", SPI_result_code_string(rc));
    uint64 n = SPI_processed;
    int dim = 0;
    float* vectors = nullptr;
    for (uint64 r = 0; r < n; ++r) {
        bool isnull;
        Datum d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);
        Datum* values;
        bool* nulls;
        int count;
        deconstruct_array(DatumGetArrayTypeP(d), FLOAT4OID, 4, true, TYPALIGN_INT, &values, &nulls, &count);
        if (r == 0) {
            dim = count;
            vectors = static_cast<float*>(SPI_palloc(sizeof(float) * (n * static_cast<uint64>(dim) + 1)));
        }
        if (count != dim) ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION), errmsg("embeddings differ in length")));
        for (int i = 0; i < count; ++i) vectors[r * dim + i] = DatumGetFloat4(values[i]);
    }
    SPI_finish();
    if (n == 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("namespace has no item embeddings to index")));
    float* centroids = static_cast<float*>(palloc(sizeof(float) * (static_cast<size_t>(lists) * dim + 1)));
    recsys_pg::core_call([&] {
        std::vector<float> data(vectors, vectors + n * static_cast<uint64>(dim));
        std::vector<float> c = recsys::spherical_kmeans(data, n, static_cast<size_t>(dim), static_cast<size_t>(lists),
                                                        static_cast<size_t>(iterations), static_cast<uint64_t>(seed));
        std::copy(c.begin(), c.end(), centroids);
    });
    Datum* out = static_cast<Datum*>(palloc(sizeof(Datum) * (static_cast<size_t>(lists) * dim + 1)));
    for (size_t i = 0; i < static_cast<size_t>(lists) * dim; ++i) out[i] = Float4GetDatum(centroids[i]);
    PG_RETURN_ARRAYTYPE_P(construct_array(out, lists * dim, FLOAT4OID, 4, true, TYPALIGN_INT));
}

}  // extern "C"
