//! Embedding sluice-core without HTTP: store a file, read it back, list.
//!
//! ```sh
//! cargo run -p sluice-core --example embed -- /tmp/sluice-example Cargo.toml
//! ```

use sluice_core::{BufPool, Driver, ListQuery, Store, StoreOptions, DEFAULT_BUF_SIZE};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root = args
        .next()
        .unwrap_or_else(|| "/tmp/sluice-example".to_owned());
    let file = args.next().unwrap_or_else(|| "Cargo.toml".to_owned());
    let data = std::fs::read(&file)?;
    let store = Store::open(&root, StoreOptions::default())?;
    println!("store on {root} (O_DIRECT: {})", store.direct_io());
    match store.create_bucket("examples") {
        Ok(()) | Err(sluice_core::StoreError::BucketAlreadyExists) => {}
        Err(e) => return Err(e.into()),
    }
    sluice_core::block_on(Driver::Auto, async move {
        let pool = BufPool::new(DEFAULT_BUF_SIZE, 4);
        // Put: fill pool buffers and hand them to the writer.
        let key = format!(
            "files/{}",
            std::path::Path::new(&file)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("file")
        );
        let mut writer = store.put_object("examples", &key, Some(data.len() as u64))?;
        for piece in data.chunks(pool.buf_size()) {
            let mut buf = pool.get();
            buf.extend_from_slice(piece);
            writer.write(buf).await?;
        }
        let info = writer
            .finish(vec![("content-type".into(), "text/plain".into())])
            .await?;
        println!("put {key}: {} bytes, ETag {}", info.size, info.meta.etag);

        // Get: aligned buffers come back from the reader.
        let mut reader = store.get_object("examples", &key)?;
        let mut back = Vec::new();
        while let Some(chunk) = reader.next_chunk(&pool).await? {
            back.extend_from_slice(chunk.data());
        }
        assert_eq!(back, data, "read back what was written");
        println!("get {key}: {} bytes, identical", back.len());

        // List.
        let page = store.list_objects(
            "examples",
            &ListQuery {
                max_keys: 100,
                with_etag: true,
                ..ListQuery::default()
            },
        )?;
        for object in page.objects {
            println!(
                "  {} {} {}",
                object.key,
                object.size,
                object.etag.unwrap_or_default()
            );
        }
        Ok::<_, sluice_core::StoreError>(())
    })??;
    Ok(())
}
