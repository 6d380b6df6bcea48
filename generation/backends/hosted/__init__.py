"""Hosted video providers, each through its official SDK, behind the one backend interface.

- `flow`: the provider-independent create-or-resume, poll, download, re-encode
- `capabilities`: what each provider and model renders (read at submit)
- `reencode`: the local re-encode every hosted clip goes through
- `errors`: provider HTTP answers as backend errors (the same for every SDK)
- `openai_videos`: OpenAI Videos (Sora) through `openai`
- `runway`: Runway Gen-4.5 through `runwayml`
- `veo`: Google Veo on Vertex AI (long-running operations) through `google-genai`
- `replicate_models`: open models (Wan 2.5) on Replicate through `replicate`
"""
