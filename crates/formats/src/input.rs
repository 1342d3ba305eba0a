//! Input framing: turns a PATH (file, folder, archive, compressed file, or `-` for stdin) into named byte streams.
