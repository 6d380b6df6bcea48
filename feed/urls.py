from django.urls import path

from . import apis, cameo_apis, provenance_apis

urlpatterns = [
    path("generations/<uuid_id:job_id>/retry", apis.GenerationRetryApi.as_view(), name="generation-retry"),
    path("posts", apis.PostListCreateApi.as_view(), name="posts"),
    path("posts/<id:post_id>", apis.PostDetailApi.as_view(), name="post-detail"),
    path("posts/<id:post_id>/remix", apis.PostRemixApi.as_view(), name="post-remix"),
    path("posts/<id:post_id>/remixes", apis.PostRemixesApi.as_view(), name="post-remixes"),
    path("posts/<id:post_id>/lineage", apis.PostLineageApi.as_view(), name="post-lineage"),
    path("posts/<id:post_id>/renditions", apis.PostRenditionsApi.as_view(), name="post-renditions"),
    path("posts/<id:post_id>/like", apis.PostLikeApi.as_view(), name="post-like"),
    path("posts/<id:post_id>/comments", apis.PostCommentsApi.as_view(), name="post-comments"),
    path("posts/<id:post_id>/shares", apis.PostSharesApi.as_view(), name="post-shares"),
    path("posts/<id:post_id>/not-interested", apis.PostNotInterestedApi.as_view(), name="post-not-interested"),
    path("posts/<id:post_id>/reports", apis.PostReportApi.as_view(), name="post-reports"),
    path("comments/<id:comment_id>", apis.CommentDetailApi.as_view(), name="comment-detail"),
    path("comments/<id:comment_id>/replies", apis.CommentRepliesApi.as_view(), name="comment-replies"),
    path("users/<handle:handle>/posts", apis.UserPostsApi.as_view(), name="user-posts"),
    path("users/<handle:handle>/mute", apis.UserMuteApi.as_view(), name="user-mute"),
    path("hashtags/<hashtag:tag>/posts", apis.HashtagPostsApi.as_view(), name="hashtag-posts"),
    path("hashtags/<hashtag:tag>/mute", apis.HashtagMuteApi.as_view(), name="hashtag-mute"),
    path("me/feed-preferences", apis.PreferencesApi.as_view(), name="feed-preferences"),
    path("views", apis.ViewsApi.as_view(), name="views"),
    path("feed/following", apis.FollowingFeedApi.as_view(), name="feed-following"),
    path("feed/for-you", apis.ForYouFeedApi.as_view(), name="feed-for-you"),
    path("feed/trending", apis.TrendingFeedApi.as_view(), name="feed-trending"),
    path("cameos/<uuid_id:cameo_id>/appearances", cameo_apis.CameoAppearancesApi.as_view(), name="cameo-appearances"),
    path("provenance/verify", provenance_apis.ProvenanceVerifyApi.as_view(), name="provenance-verify"),
]
