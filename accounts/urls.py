from django.urls import path

from . import apis

urlpatterns = [
    path("auth/signup", apis.SignupApi.as_view(), name="auth-signup"),
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/firebase", apis.FirebaseSignInApi.as_view(), name="auth-firebase"),
    path("auth/refresh", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/devices", apis.DevicesApi.as_view(), name="me-devices"),
    path("users/<str:handle>", apis.ProfileApi.as_view(), name="user-profile"),
    path("users/<str:handle>/follow", apis.FollowApi.as_view(), name="user-follow"),
    path("users/<str:handle>/block", apis.BlockApi.as_view(), name="user-block"),
    path("users/<str:handle>/followers", apis.FollowersApi.as_view(), name="user-followers"),
    path("users/<str:handle>/following", apis.FollowingApi.as_view(), name="user-following"),
]
